import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlmSimulator } from './support/llm-simulator';
import { type TestGateway, waitFor } from './support/gateway';
import {
  expectedTurnLines,
  followJob,
  predictedSummary,
  readTranscript,
  SMALL_FLAVOR,
  startWorkerGateway,
  submit,
} from './support/pipeline-fixtures';

/** SMALL_FLAVOR's plan on `flaky-model`, a model the simulator serves (and fails on demand). */
const FLAVORS = [
  { ...SMALL_FLAVOR, name: 'primary', modelName: 'flaky-model', fallback: 'small' },
  // Another plan (context), on a model the server does not have: 404.
  { ...SMALL_FLAVOR, name: 'ghost', modelName: 'no-such-model', totalContextLength: 8192, fallback: 'small' },
  // Its prompt alone fills its context: no text can ever fit.
  {
    ...SMALL_FLAVOR,
    name: 'cramped',
    modelName: 'cramped-model',
    totalContextLength: 60,
    maxGenerationLength: 50,
    fallback: 'small',
  },
  { ...SMALL_FLAVOR, name: 'lonely', modelName: 'flaky-model' },
  SMALL_FLAVOR,
];

function manifest(route: string, fields: number, prompt: string): string {
  const flavors = FLAVORS.map(
    (flavor) =>
      `    - ${Object.entries(flavor)
        .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
        .join('\n      ')}`,
  ).join('\n');
  return `${route}:\n  type: summary\n  fields: ${fields}\n  name: ${prompt}\n  flavor:\n${flavors}\n`;
}

/** The `message` of each structured log line of the gateway that matches `pattern`. */
function logMessages(gateway: TestGateway, pattern: RegExp): string[] {
  return gateway.logger.lines
    .map((line) => {
      try {
        return (JSON.parse(line.message) as { message?: unknown }).message;
      } catch {
        return line.message;
      }
    })
    .filter((message): message is string => typeof message === 'string' && pattern.test(message));
}

describe('(new) failover between flavors', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;
  const text = readTranscript('ES2004a.txt');
  const lines = expectedTurnLines(text);
  const expected = new Set(lines);

  beforeAll(async () => {
    simulator = await new LlmSimulator({
      models: [
        { id: 'small-model', maxModelLen: 4096, tokenizer: 'cl100k_base' },
        { id: 'flaky-model', maxModelLen: 4096, tokenizer: 'cl100k_base' },
      ],
    }).start();
    gateway = await startWorkerGateway(simulator, { MAX_RETRIES: '2' });
    writeFileSync(
      join(gateway.root, '.hydra-conf/services/failover.yaml'),
      manifest('failover/progressive', 2, 'progressive') + manifest('failover/map', 1, 'map'),
    );
    await waitFor(
      async () => (await (await fetch(`${gateway.baseUrl}/services`)).text()).includes('failover/map'),
      15_000,
      'the failover services',
    );
  });
  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
  });
  beforeEach(() => simulator.reset());

  it('a model that keeps answering 500 mid-job: the job goes on with the fallback from its checkpoint, nothing lost or repeated', async () => {
    simulator.failModel('flaky-model', { kind: 'server_error' }, 3);
    const jobId = await submit(gateway, 'failover/progressive', text, 'primary');
    const final = (await followJob(gateway, jobId)).at(-1);
    expect(final?.status).toBe('complete');
    expect(final?.summarization).toBe(predictedSummary(lines));

    const answered = simulator.requests.filter((call) => call.status === 200);
    expect(answered.slice(0, 3).map((call) => call.model)).toEqual([
      'flaky-model',
      'flaky-model',
      'flaky-model',
    ]);
    expect(answered.slice(3).every((call) => call.model === 'small-model')).toBe(true);
    expect(simulator.requests.filter((call) => call.status === 500)).toHaveLength(2); // MAX_RETRIES
    // Every turn reached exactly one answered prompt, in order: the fallback resumed after the 3rd batch.
    const turnsPerCall = answered.map((call) => call.prompt.split('\n').filter((line) => expected.has(line)));
    expect(turnsPerCall.flat()).toEqual(lines);

    expect(final?.usage).toMatchObject({
      calls: answered.length,
      promptTokens: answered.reduce((total, call) => total + call.promptTokens, 0),
      flavor: 'small',
    });
    expect(
      logMessages(
        gateway,
        new RegExp(
          `^Job ${jobId}: flavor primary failed \\(LLM call failed after 2 attempts: 500 .*\\); it goes on with its fallback flavor small from its checkpoint$`,
        ),
      ),
    ).toHaveLength(1);
  });

  it('map mode: the batches answered before the outage are kept, the summary is whole', async () => {
    await followJob(gateway, await submit(gateway, 'failover/map', text, 'small'));
    const batchCount = simulator.requests.length;
    simulator.reset();
    simulator.failModel('flaky-model', { kind: 'server_error' }, 4);
    const jobId = await submit(gateway, 'failover/map', text, 'primary');
    const final = (await followJob(gateway, jobId)).at(-1);
    expect(final).toMatchObject({ status: 'complete', summarization: predictedSummary(lines) });
    expect(final?.usage?.flavor).toBe('small');
    const fallbackCalls = simulator.requests.filter((call) => call.model === 'small-model');
    // The fallback did not redo the batches flaky-model had answered.
    expect(fallbackCalls.length).toBeLessThan(batchCount);
    expect(
      logMessages(gateway, new RegExp(`^Job ${jobId}: flavor primary failed .* from its checkpoint$`)),
    ).toHaveLength(1);
  });

  it('a model the server does not serve (404): the job starts over on the fallback when its plan differs', async () => {
    const jobId = await submit(gateway, 'failover/map', text, 'ghost');
    const final = (await followJob(gateway, jobId)).at(-1);
    expect(final?.status).toBe('complete');
    expect(final?.summarization).toBe(predictedSummary(lines));
    expect(final?.usage?.flavor).toBe('small');
    const missing = simulator.requests.filter((call) => call.model === 'no-such-model');
    expect(missing.length).toBeGreaterThan(0);
    expect(missing.every((call) => call.status === 404)).toBe(true);
    expect(
      logMessages(
        gateway,
        new RegExp(
          `^Job ${jobId}: flavor ghost failed \\(LLM API rejected the request \\(404\\).*from the start$`,
        ),
      ),
    ).toHaveLength(1);
  });

  it('a flavor whose prompt leaves no room for text never calls its model: the job runs on the fallback', async () => {
    const jobId = await submit(gateway, 'failover/progressive', text, 'cramped');
    const final = (await followJob(gateway, jobId)).at(-1);
    expect(final?.status).toBe('complete');
    expect(final?.summarization).toBe(predictedSummary(lines));
    expect(final?.usage?.flavor).toBe('small');
    expect(simulator.requests.every((call) => call.model === 'small-model')).toBe(true);
    expect(
      logMessages(gateway, new RegExp(`^Job ${jobId}: flavor cramped has no room for any text`)),
    ).toHaveLength(1);
  });

  it('a flavor without fallback fails as before', async () => {
    simulator.failModel('flaky-model', { kind: 'server_error' });
    const jobId = await submit(gateway, 'failover/progressive', 'Alice : hello there', 'lonely');
    const final = (await followJob(gateway, jobId)).at(-1);
    expect(final).toMatchObject({
      status: 'error',
      details: expect.stringMatching(/^LLM call failed after 2 attempts: 500/) as unknown,
    });
    expect(simulator.requests.every((call) => call.model === 'flaky-model')).toBe(true);
  });

  it('GET /services shows fallback as written', async () => {
    const services = (await (await fetch(`${gateway.baseUrl}/services`)).json()) as {
      route: string;
      flavor: { name: string; fallback?: string }[];
    }[];
    const failover = services.find((service) => service.route === 'failover/map');
    expect(failover?.flavor.map((flavor) => flavor.fallback)).toEqual([
      'small',
      'small',
      'small',
      undefined,
      undefined,
    ]);
  });
});
