import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { simulatedAnswer, LlmSimulator } from './support/llm-simulator';
import { startTestGateway, type TestGateway, waitFor } from './support/gateway';
import {
  SMALL_FLAVOR,
  TRANSCRIPTS,
  expectedTurnLines,
  followJob,
  predictedSummary,
  readTranscript,
  submit,
  installTestServices,
  startWorkerGateway,
  testFlavor,
} from './support/pipeline-fixtures';
import { SUMMARIZATION_QUEUE, type SummarizationJobData } from '../src/jobs/job-payload';
import { TokenizersService } from '../src/tokenizers/tokenizers.service';

const tokenizer = new TokenizersService().family('cl100k_base');
const maxPromptTokens = Math.floor(
  (SMALL_FLAVOR.totalContextLength - SMALL_FLAVOR.maxGenerationLength) / 1.15,
);

/** Raw turn lines of a prompt (lines already summarised by the simulator are context). */
const turnLinesOf = (prompt: string, expected: Set<string>) =>
  prompt.split('\n').filter((line) => expected.has(line));

/** Orders the calls' turn lists so that they tile `lines`; a call matching nowhere is left at the end. */
function inTranscriptOrder(perCall: string[][], lines: string[]): string[] {
  const remaining = [...perCall];
  const ordered: string[] = [];
  while (ordered.length < lines.length && remaining.length > 0) {
    const position = ordered.length;
    const next = remaining.findIndex((turns) =>
      turns.every((line, index) => lines[position + index] === line),
    );
    if (next === -1) break;
    ordered.push(...(remaining.splice(next, 1)[0] ?? []));
  }
  return [...ordered, ...remaining.flat()];
}

describe('the whole path: HTTP → queue → worker → simulator → /results', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
    gateway = await startWorkerGateway(simulator);
  });
  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
  });
  beforeEach(() => {
    simulator.reset();
    simulator.latencyMs = 0;
  });

  describe.each(TRANSCRIPTS)('%s', (file) => {
    const text = readTranscript(file);
    const lines = expectedTurnLines(text);
    const expected = new Set(lines);

    it.each(['test/map', 'test/progressive'])(
      '%s: every turn reaches exactly one prompt, in order; no prompt over budget; the predicted summary; growing progress',
      async (route) => {
        const history = await followJob(gateway, await submit(gateway, route, text));
        const final = history.at(-1);
        expect(final?.status).toBe('complete');

        const calls = simulator.requests;
        expect(calls.every((call) => call.status === 200)).toBe(true);
        for (const call of calls) {
          expect(tokenizer.count(call.prompt)).toBeLessThanOrEqual(maxPromptTokens);
          expect(call).toMatchObject({ model: 'small-model', maxTokens: 512, temperature: 0.2, topP: 0.7 });
        }
        const perCall = calls
          .map((call) => turnLinesOf(call.prompt, expected))
          .filter((turns) => turns.length > 0);
        // Progressive calls run one after the other; map calls in parallel, so they are matched up.
        expect(route === 'test/progressive' ? perCall.flat() : inTranscriptOrder(perCall, lines)).toEqual(
          lines,
        );

        expect(final?.summarization).toBe(predictedSummary(lines));
        const percents = history
          .filter((body) => body.progress !== undefined)
          .map((body) => Number(body.progress));
        expect(percents).toEqual([...percents].sort((a, b) => a - b));
        expect(
          history.some(
            (body) => body.status === 'queued' || body.status === 'started' || body.status === 'processing',
          ),
        ).toBe(true);
      },
    );
  });

  it('parallel map overlaps calls and never exceeds MAX_CONCURRENT_INFERENCES', async () => {
    simulator.latencyMs = 50;
    const final = (
      await followJob(gateway, await submit(gateway, 'test/map', readTranscript('ES2004a.txt')))
    ).at(-1);
    expect(final?.status).toBe('complete');
    expect(simulator.maxInFlight).toBe(4);
  });

  it('a progressive prompt carries the last summaryTurns lines of the summary so far', async () => {
    const text = readTranscript('ES2004a.txt');
    await followJob(gateway, await submit(gateway, 'test/progressive', text));
    const [first, second] = simulator.requests;
    expect(first?.prompt).toMatch(/^Summary so far:\n\n\nNew turns:/);
    const lastLines = (first?.answer ?? '').split('\n').slice(-SMALL_FLAVOR.summaryTurns).join('\n');
    expect(second?.prompt).toContain(`Summary so far:\n${lastLines}\n\nNew turns:`);
  });

  it('recovers from 429 (Retry-After), 500, a hang over TIMEOUT and a context-length 400, with the same summary', async () => {
    const local = await startWorkerGateway(simulator, { TIMEOUT: '0.5', MAX_CONCURRENT_INFERENCES: '1' });
    try {
      simulator.injectFaults(
        { kind: 'rate_limit', retryAfterSeconds: 1 },
        { kind: 'server_error' },
        { kind: 'hang' },
        { kind: 'context_length' },
      );
      const text = readTranscript('ES2004a.txt');
      const final = (await followJob(local, await submit(local, 'test/map', text))).at(-1);
      expect(final?.status).toBe('complete');
      expect(final?.summarization).toBe(predictedSummary(expectedTurnLines(text)));
      expect(simulator.requests.slice(0, 4).map((call) => call.status)).toEqual([429, 500, -1, 400]);
    } finally {
      await local.close();
    }
  });

  it('progressive mode splits a batch the server rejects for its context length, with the same summary', async () => {
    simulator.injectFaults({ kind: 'context_length' }, { kind: 'context_length' });
    const text = readTranscript('ES2004a.txt');
    const final = (await followJob(gateway, await submit(gateway, 'test/progressive', text))).at(-1);
    expect(final?.summarization).toBe(predictedSummary(expectedTurnLines(text)));
    const [first, second, third] = simulator.requests;
    expect([first?.status, second?.status, third?.status]).toEqual([400, 400, 200]);
    const turnsIn = (prompt = '') =>
      prompt.split('New turns:\n')[1]?.split('\n\n')[0]?.split('\n').length ?? 0;
    expect(turnsIn(second?.prompt)).toBeLessThan(turnsIn(first?.prompt));
    expect(turnsIn(third?.prompt)).toBeLessThan(turnsIn(second?.prompt));
  });

  it('fails with a readable reason once MAX_RETRIES attempts failed', async () => {
    const local = await startWorkerGateway(simulator, { MAX_RETRIES: '2' });
    try {
      simulator.injectFaults({ kind: 'server_error' }, { kind: 'server_error' });
      const jobId = await submit(local, 'test/progressive', 'Alice : hello');
      const final = (await followJob(local, jobId)).at(-1);
      const again = await fetch(`${local.baseUrl}/results/${jobId}`);
      expect(again.status).toBe(500);
      expect(await again.json()).toEqual(final);
      expect(final).toEqual({
        status: 'error',
        message: 'Task failed',
        details: 'LLM call failed after 2 attempts: 500 Internal server error',
        error: 'LLM call failed after 2 attempts: 500 Internal server error',
      });
    } finally {
      await local.close();
    }
  });

  it('cancels a running job at the next batch boundary', async () => {
    simulator.latencyMs = 150;
    const jobId = await submit(gateway, 'test/progressive', readTranscript('Bmr006.txt'));
    for (let attempt = 0; attempt < 200 && simulator.requests.length < 2; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const cancel = await fetch(`${gateway.baseUrl}/results/${jobId}`, { method: 'DELETE' });
    expect(cancel.status).toBe(200);
    expect(await cancel.json()).toEqual({ status: 'cancelled', message: 'Task cancelled' });
    const final = (await followJob(gateway, jobId)).at(-1);
    expect(final).toMatchObject({ status: 'error', details: 'cancelled', error: 'cancelled' });
    const callsAtEnd = simulator.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(simulator.requests.length).toBe(callsAtEnd);
  });

  it('deletes a finished job', async () => {
    const jobId = await submit(gateway, 'test/map', 'Alice : hello');
    await followJob(gateway, jobId);
    expect((await fetch(`${gateway.baseUrl}/results/${jobId}`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${gateway.baseUrl}/results/${jobId}`)).status).toBe(404);
    expect((await fetch(`${gateway.baseUrl}/results/${jobId}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('uses per-request temperature and top_p', async () => {
    const body = new FormData();
    body.append('file', new Blob(['Alice : hello']));
    body.append('flavor', 'small');
    body.append('temperature', '1.3');
    body.append('top_p', '0.25');
    const response = await fetch(`${gateway.baseUrl}/services/test/map/generate`, { method: 'POST', body });
    await followJob(gateway, ((await response.json()) as { jobId: string }).jobId);
    expect(simulator.requests[0]).toMatchObject({ temperature: 1.3, topP: 0.25 });
  });

  it('the simulator answers are what the prediction assumes', () => {
    expect(simulatedAnswer('Alice : a b')).toBe('Alice : a b (2 words)');
  });
});

describe('reduce and consolidate', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
    gateway = await startTestGateway({
      seedSamples: false,
      env: { ROLE: 'all', OPENAI_API_BASE: simulator.baseUrl },
    });
    await installTestServices(gateway, {
      reduceSummary: true,
      consolidateSummary: true,
      reduce_prompt: 'reduce',
    });
  });
  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
  });

  it('reduces in budget-sized groups, level after level, then merges same-speaker lines', async () => {
    const text = readTranscript('Bmr006.txt');
    const final = (await followJob(gateway, await submit(gateway, 'test/map', text))).at(-1);
    expect(final?.status).toBe('complete');
    const reduceCalls = simulator.requests.filter((call) => call.prompt.startsWith('Merge these notes:'));
    expect(reduceCalls.length).toBeGreaterThan(1);
    for (const call of reduceCalls) expect(tokenizer.count(call.prompt)).toBeLessThanOrEqual(maxPromptTokens);
    const lastReduce = reduceCalls.at(-1)?.answer ?? '';
    const consolidated = (final?.summarization ?? '').split('\n');
    for (let index = 1; index < consolidated.length; index += 1) {
      const speaker = (line: string | undefined) => line?.split(' : ')[0];
      expect(speaker(consolidated[index])).not.toBe(speaker(consolidated[index - 1]));
    }
    expect(consolidated.length).toBeLessThanOrEqual(lastReduce.split('\n').length);
  });
});

describe('results expire after RESULT_TTL', () => {
  it('answers 404 once the TTL has passed', async () => {
    const simulator = await new LlmSimulator().start();
    const gateway = await startWorkerGateway(simulator, { RESULT_TTL: '1' });
    try {
      const jobId = await submit(gateway, 'test/map', 'Alice : hello');
      expect((await followJob(gateway, jobId)).at(-1)?.status).toBe('complete');
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      const response = await fetch(`${gateway.baseUrl}/results/${jobId}`);
      expect(response.status).toBe(404);
    } finally {
      await gateway.close();
      await simulator.stop();
    }
  });
});

describe('a map job that fails stops calling the LLM', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
    // One attempt per call: the first 500 is final (RETRIES_EXHAUSTED), as a non-retryable 400 is.
    gateway = await startWorkerGateway(simulator, { MAX_RETRIES: '1', MAX_CONCURRENT_INFERENCES: '4' });
  });
  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
  });

  it('its first unrecoverable error ends the job: the calls in flight are aborted, none is sent after', async () => {
    simulator.reset();
    simulator.latencyMs = 100;
    simulator.injectFaults({ kind: 'server_error' });
    const text = readTranscript('Bmr006.txt');
    const final = (await followJob(gateway, await submit(gateway, 'test/map', text))).at(-1);
    expect(final?.status).toBe('error');
    // Long enough for a job that kept going to send several more rounds of calls.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const failedAt = simulator.requests.findIndex((call) => call.status === 500);
    expect(failedAt).toBeGreaterThanOrEqual(0);
    // The failed call and the three others dispatched with it, none after.
    expect(simulator.requests.length).toBeLessThanOrEqual(4);
    expect(simulator.inFlight).toBe(0);
  });

  it('a job cancelled during a call aborts that call at once, not at the next batch boundary', async () => {
    simulator.reset();
    simulator.latencyMs = 0;
    simulator.injectFaults({ kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' });
    const text = readTranscript('Bmr006.txt');
    const jobId = await submit(gateway, 'test/map', text);
    await waitFor(async () => simulator.inFlight === 4, 20_000, 'four hanging calls');
    const deleted = await fetch(`${gateway.baseUrl}/results/${jobId}`, { method: 'DELETE' });
    expect(deleted.ok).toBe(true);
    // Hanging calls end only when the client gives up on them: the job's cancellation must do it.
    await waitFor(async () => simulator.inFlight === 0, 10_000, 'the hanging calls aborted');
    expect(simulator.requests).toHaveLength(4);
  });
});

describe('a job whose request was refused (answered 503)', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;
  let redis: Redis;
  let queue: Queue<SummarizationJobData>;

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
    gateway = await startWorkerGateway(simulator);
    redis = new Redis(gateway.redisUrl);
    queue = new Queue(SUMMARIZATION_QUEUE, {
      connection: new Redis(gateway.redisUrl, { maxRetriesPerRequest: null }),
    });
  });
  afterAll(async () => {
    await queue.close();
    redis.disconnect();
    await gateway.close();
    await simulator.stop();
  });

  it('fails as refused, not on its prompts, which the worker reads while it claims the admission', async () => {
    const jobId = 'refused-with-a-missing-prompt';
    await redis.set(`llm-gateway:admission:${jobId}`, 'refused');
    await redis.set(`llm-gateway:text:${jobId}`, 'Alice: hello\nBob: hi');
    await queue.add(
      'summarize',
      {
        service: { route: 'test/progressive', promptName: 'no-such-prompt', fields: 2 },
        flavor: testFlavor(),
        text: '',
        isTextStoredApart: true,
        isAdmissionRequired: true,
      },
      { jobId, attempts: 1 },
    );
    await waitFor(
      async () => gateway.logger.matching(new RegExp(`Job ${jobId} refused`)).length > 0,
      10_000,
      'the job to be refused',
    );
    expect(gateway.logger.matching(/no-such-prompt/)).toEqual([]);
    expect(await redis.exists(`llm-gateway:text:${jobId}`)).toBe(0);
    expect(simulator.requests).toHaveLength(0);
  });
});
