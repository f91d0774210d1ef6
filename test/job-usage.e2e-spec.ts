import { LlmSimulator } from './support/llm-simulator';
import type { TestGateway } from './support/gateway';
import { followJob, readTranscript, startWorkerGateway, submit } from './support/pipeline-fixtures';
import { TestSocket, wsUrl } from './support/ws-client';
import { TokenizersService } from '../src/tokenizers/tokenizers.service';

const tokenizer = new TokenizersService().family('cl100k_base');
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

describe('(new) the usage of every job in its complete body', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
    gateway = await startWorkerGateway(simulator, { RESULT_CACHE_TTL: '0' });
  });
  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
  });
  beforeEach(() => simulator.reset());

  it.each(['test/map', 'test/progressive'])(
    "%s: REST and both sockets report the job's calls, the server's token counts and the flavor, v1 fields unchanged",
    async (route) => {
      const jobId = await submit(gateway, route, readTranscript('ES2004a.txt'));
      const final = (await followJob(gateway, jobId)).at(-1);
      const calls = simulator.requests.filter((call) => call.status === 200);
      expect(calls.length).toBeGreaterThan(1);
      const expectedUsage = {
        calls: calls.length,
        promptTokens: sum(calls.map((call) => call.promptTokens)),
        completionTokens: sum(calls.map((call) => tokenizer.count(call.answer ?? ''))),
        durationMs: expect.any(Number) as number,
        flavor: 'small',
      };
      expect(final).toEqual({
        status: 'complete',
        message: 'success',
        summarization: expect.any(String) as string,
        usage: expectedUsage,
      });

      const single = await TestSocket.open(wsUrl(gateway.baseUrl, `/ws/results/${jobId}`));
      await single.closed();
      expect(single.messages).toEqual([final]);

      const feed = await TestSocket.open(wsUrl(gateway.baseUrl, '/ws/results'));
      feed.send([jobId]);
      const [answer] = await feed.waitUntil((messages) => messages.length > 0);
      feed.close();
      expect(answer).toEqual([{ task_id: jobId, ...final, progress: '100' }]);
    },
  );
});
