import type { ChildProcess } from 'node:child_process';
import { startTestGateway, type TestGateway, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import {
  expectedTurnLines,
  installTestServices,
  predictedSummary,
  readTranscript,
  submit,
} from './support/pipeline-fixtures';
import { startApiProcess, startWorkerProcess, stopProcess } from './support/processes';
import { TestSocket, wsUrl } from './support/ws-client';

type Message = Record<string, unknown>;

/**
 * Real processes sharing one Redis: API processes that only serve HTTP and WebSockets, and a
 * worker process. Updates reach a socket through Redis, whichever process it is connected to.
 */
describe('WebSockets across processes', () => {
  let simulator: LlmSimulator;
  /** Prepares the files (services, prompts) the processes share; not itself used as an API. */
  let files: TestGateway;
  const processes: ChildProcess[] = [];

  const startWorker = (env: Record<string, string> = {}) => {
    const worker = startWorkerProcess(files, simulator.baseUrl, env);
    processes.push(worker);
    return worker;
  };
  const startApi = async () => {
    const api = await startApiProcess(files.root, {
      SERVICES_BROKER: files.redisUrl,
      OPENAI_API_BASE: simulator.baseUrl,
    });
    processes.push(api.child);
    return api;
  };

  beforeEach(async () => {
    simulator = await new LlmSimulator().start();
    files = await startTestGateway({ seedSamples: false });
    await installTestServices(files);
  });
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((child) => stopProcess(child)));
    await files.close();
    await simulator.stop();
  });

  it('a socket on API process A follows a job submitted through API process B', async () => {
    simulator.latencyMs = 30;
    const [apiA, apiB] = await Promise.all([startApi(), startApi()]);
    startWorker();
    const text = readTranscript('ES2004a.txt');
    const jobId = await submit(apiB, 'test/progressive', text);

    const perJob = await TestSocket.open(wsUrl(apiA.baseUrl, `/ws/results/${jobId}?partial=true`));
    const feed = await TestSocket.open(wsUrl(apiA.baseUrl, '/ws/results'));
    feed.send([jobId]);
    expect((await perJob.closed(60_000)).code).toBe(1000);

    const messages = perJob.messages as Message[];
    const summary = predictedSummary(expectedTurnLines(text));
    expect(messages.filter((message) => message.status === 'processing').length).toBeGreaterThan(10);
    expect(messages.at(-1)).toEqual({
      status: 'complete',
      message: 'success',
      summarization: summary,
      usage: expect.objectContaining({ flavor: 'small' }) as unknown,
    });
    const partial = messages
      .map((message) => (typeof message.partial === 'string' ? message.partial : ''))
      .join('');
    expect(partial).toBe(`${summary}\n`);
    await feed.waitUntil(
      (received) => received.some((message) => (message as Message).status === 'complete'),
      10_000,
    );
    feed.close();
  });

  it('a job handed back by a stopping worker never goes backwards for its subscribers', async () => {
    simulator.latencyMs = 80;
    const api = await startApi();
    const first = startWorker({ JOB_LOCK_SECONDS: '600' });
    const text = readTranscript('ES2004a.txt');
    const jobId = await submit(api, 'test/progressive', text);
    const socket = await TestSocket.open(wsUrl(api.baseUrl, `/ws/results/${jobId}`));
    await waitFor(async () => simulator.requests.length >= 5, 20_000, 'five batches');
    await stopProcess(first, 'SIGTERM');
    const atHandBack = socket.messages.length;
    expect(await (await fetch(`${api.baseUrl}/results/${jobId}`)).json()).toMatchObject({ status: 'queued' });
    startWorker({ JOB_LOCK_SECONDS: '600' });

    expect((await socket.closed(60_000)).code).toBe(1000);
    const messages = socket.messages as Message[];
    // The job was queued again meanwhile (GET /results said so above), yet no message said so.
    expect(messages.slice(atHandBack).some((message) => message.status === 'queued')).toBe(false);
    const percents = messages
      .filter((message) => message.status === 'processing')
      .map((message) => Number(message.progress));
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(new Set(percents).size).toBe(percents.length);
    expect(messages.at(-1)?.summarization).toBe(predictedSummary(expectedTurnLines(text)));
  });
});
