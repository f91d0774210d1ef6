import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { LlmSimulator } from './support/llm-simulator';
import type { TestGateway } from './support/gateway';
import {
  followJob,
  readTranscript,
  type ResultBody,
  startWorkerGateway,
  submit,
} from './support/pipeline-fixtures';

async function run(
  gateway: TestGateway,
  route: string,
  text: string,
): Promise<ResultBody & { jobId: string }> {
  const jobId = await submit(gateway, route, text);
  const final = (await followJob(gateway, jobId)).at(-1);
  if (final?.status !== 'complete') throw new Error(`job ${jobId} ended ${JSON.stringify(final)}`);
  return { ...final, jobId };
}

async function cacheHits(gateway: TestGateway): Promise<string[]> {
  const metrics = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
  return metrics.split('\n').filter((line) => line.startsWith('llm_gateway_result_cache_hits_total{'));
}

describe('(new) the result cache', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
    gateway = await startWorkerGateway(simulator, { RESULT_CACHE_TTL: '600', CONCURRENCY: '2' });
  });
  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
  });
  beforeEach(() => {
    simulator.reset();
    simulator.latencyMs = 0;
  });

  it('answers an identical submission with a new job, the same summary and no LLM call; metrics count the hit', async () => {
    const text = readTranscript('education_4.txt');
    const first = await run(gateway, 'test/map', text);
    const firstCalls = simulator.requests.length;
    expect(firstCalls).toBeGreaterThan(0);
    expect(first.usage).toMatchObject({ calls: firstCalls, flavor: 'small' });
    expect(first.usage).not.toHaveProperty('cached');

    simulator.reset();
    const second = await run(gateway, 'test/map', text);
    expect(simulator.requests).toHaveLength(0);
    expect(second.jobId).not.toBe(first.jobId);
    expect(second).toEqual({
      jobId: second.jobId,
      status: 'complete',
      message: 'success',
      summarization: first.summarization,
      usage: {
        calls: 0,
        promptTokens: 0,
        completionTokens: 0,
        durationMs: expect.any(Number) as number,
        flavor: 'small',
        cached: true,
      },
    });
    expect(await cacheHits(gateway)).toContain(
      'llm_gateway_result_cache_hits_total{service="test/map",flavor="small",source="stored"} 1',
    );

    // Keys are digests: neither the text nor anything else readable is stored as a key.
    const redis = new Redis(gateway.redisUrl);
    try {
      const keys = await redis.keys('llm-gateway:result-cache*');
      expect(keys).toEqual([expect.stringMatching(/^llm-gateway:result-cache:[0-9a-f]{64}$/)]);
    } finally {
      redis.disconnect();
    }
  });

  it('misses when the prompt file, the sampling, the service or the text changes', async () => {
    const text = readTranscript('ES2004a.txt').slice(0, 3_000);
    await run(gateway, 'test/map', text);
    simulator.reset();

    writeFileSync(join(gateway.root, 'prompts/map.txt'), 'Turns of the meeting:\n{}\n\nOne line per turn.');
    await run(gateway, 'test/map', text);
    expect(simulator.requests.length).toBeGreaterThan(0);
    expect(simulator.requests[0]?.prompt).toMatch(/^Turns of the meeting:/);

    simulator.reset();
    const body = new FormData();
    body.append('file', new Blob([text]));
    body.append('flavor', 'small');
    body.append('temperature', '0.9');
    const response = await fetch(`${gateway.baseUrl}/services/test/map/generate`, { method: 'POST', body });
    const { jobId } = (await response.json()) as { jobId: string };
    expect((await followJob(gateway, jobId)).at(-1)?.usage?.cached).toBeUndefined();
    expect(simulator.requests[0]?.temperature).toBe(0.9);

    simulator.reset();
    await run(gateway, 'test/progressive', text);
    expect(simulator.requests.length).toBeGreaterThan(0);

    simulator.reset();
    await run(gateway, 'test/map', `${text}\nZoe : one more turn`);
    expect(simulator.requests.length).toBeGreaterThan(0);
  });

  it('identical submissions while one runs share that run (single flight)', async () => {
    simulator.latencyMs = 150;
    const text = readTranscript('ES2004a.txt').slice(0, 6_000);
    const [one, two] = await Promise.all([run(gateway, 'test/map', text), run(gateway, 'test/map', text)]);
    expect(one.summarization).toBe(two.summarization);
    const ran = [one, two].filter((job) => job.usage?.cached !== true);
    expect(ran).toHaveLength(1);
    expect(simulator.requests.length).toBe(ran[0]?.usage?.calls);
    expect(await cacheHits(gateway)).toContain(
      'llm_gateway_result_cache_hits_total{service="test/map",flavor="small",source="shared"} 1',
    );
    expect(gateway.logger.matching(/waits for job .*, an identical request running now/)).toHaveLength(1);
  });
});

describe('RESULT_CACHE_TTL=0', () => {
  it('turns the cache off: an identical submission calls the LLM again', async () => {
    const simulator = await new LlmSimulator().start();
    const gateway = await startWorkerGateway(simulator, { RESULT_CACHE_TTL: '0' });
    try {
      const text = readTranscript('education_4.txt');
      await run(gateway, 'test/map', text);
      const firstCalls = simulator.requests.length;
      simulator.reset();
      const second = await run(gateway, 'test/map', text);
      expect(simulator.requests).toHaveLength(firstCalls);
      expect(second.usage).toMatchObject({ calls: firstCalls });
      expect(second.usage).not.toHaveProperty('cached');
      expect(await cacheHits(gateway)).toEqual([]);
    } finally {
      await gateway.close();
      await simulator.stop();
    }
  });
});
