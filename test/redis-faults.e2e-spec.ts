import Redis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestGateway, type TestGateway, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import { installTestServices, readTranscript } from './support/pipeline-fixtures';
import { freezeRedis, type RedisServerHandle, startRedisServer, thawRedis } from './support/redis-server';

/** One generate request, bounded: its status, body and how long it took. */
async function generate(
  gateway: TestGateway,
  content: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { jobId?: string; detail?: string }; elapsedMs: number }> {
  const started = Date.now();
  const response = await fetch(`${gateway.baseUrl}/services/test/map/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ content, flavor: 'small' }),
    signal: AbortSignal.timeout(5_000),
  });
  return {
    status: response.status,
    body: (await response.json()) as { jobId?: string; detail?: string },
    elapsedMs: Date.now() - started,
  };
}

/** BullMQ's job hashes of the summarization queue (one per job it holds, whatever its state). */
async function queuedJobIds(redis: Redis): Promise<string[]> {
  const keys = await redis.keys('bull:summarization:*');
  return keys
    .map((key) => key.slice('bull:summarization:'.length))
    .filter((rest) => /^[0-9a-f-]{36}$/.test(rest));
}

describe('Redis faults on the write path', () => {
  let server: RedisServerHandle;
  let simulator: LlmSimulator;
  let gateway: TestGateway;
  let redis: Redis;

  beforeEach(async () => {
    server = await startRedisServer();
    simulator = await new LlmSimulator().start();
    gateway = await startTestGateway({
      seedSamples: false,
      redisUrl: server.url,
      env: { ROLE: 'all', OPENAI_API_BASE: simulator.baseUrl, MAX_RETRY_DELAY: '0.05' },
    });
    await installTestServices(gateway);
    redis = new Redis(server.url);
  });
  afterEach(async () => {
    thawRedis(server);
    redis.disconnect();
    await gateway.close();
    await simulator.stop();
    await server.stop();
  });

  it('a request answered 503 while Redis is frozen never runs once Redis resumes', async () => {
    freezeRedis(server);
    const answers = [];
    for (let index = 0; index < 3; index += 1) {
      answers.push(await generate(gateway, `Alice: refused request ${index}\nBob: ok`));
    }
    for (const answer of answers) {
      expect(answer.status).toBe(503);
      expect(answer.body.detail).toBe('Redis is unavailable');
      expect(answer.elapsedMs).toBeLessThan(2_500);
    }
    thawRedis(server);
    // Redis executes what it was sent while frozen; the worker (ROLE=all) is ready to take it.
    await sleep(4_000);
    expect(simulator.requests).toHaveLength(0);
    // Removed by the API once Redis answered, or, when a worker took it first, failed by that
    // worker as refused with its input deleted: no refused request's text stays in Redis.
    for (const jobId of await queuedJobIds(redis)) {
      const job = await redis.hgetall(`bull:summarization:${jobId}`);
      expect(job.failedReason).toMatch(/^refused/);
      expect((JSON.parse(job.data ?? '{}') as { text?: string }).text).toBe('');
    }
    expect(await redis.keys('llm-gateway:text:*')).toEqual([]);
    // The gateway still works afterwards.
    const accepted = await generate(gateway, 'Alice: after the thaw\nBob: fine');
    expect(accepted.status).toBe(200);
    await waitFor(async () => simulator.requests.length > 0, 10_000, 'the accepted job to run');
  }, 30_000);

  it('the same Idempotency-Key gives the same job, and retrying a 503 runs the job once', async () => {
    const first = await generate(gateway, 'Alice: hello\nBob: hi', { 'Idempotency-Key': 'key-1' });
    const again = await generate(gateway, 'Alice: hello\nBob: hi', { 'Idempotency-Key': 'key-1' });
    expect(first.status).toBe(200);
    expect(again.body.jobId).toBe(first.body.jobId);
    const other = await generate(gateway, 'Alice: hello\nBob: hi', { 'Idempotency-Key': 'key-2' });
    expect(other.body.jobId).not.toBe(first.body.jobId);

    freezeRedis(server);
    const refused = await generate(gateway, 'Carol: retried\nDan: yes', { 'Idempotency-Key': 'key-3' });
    expect(refused.status).toBe(503);
    thawRedis(server);
    const retry = () => generate(gateway, 'Carol: retried\nDan: yes', { 'Idempotency-Key': 'key-3' });
    await waitFor(async () => (await retry()).status === 200, 10_000, 'a retry to be accepted');
    const retried = await retry();
    expect(retried.status).toBe(200);
    await waitFor(
      async () => (await fetch(`${gateway.baseUrl}/results/${retried.body.jobId ?? ''}`)).status === 200,
      10_000,
      'the retried job to complete',
    );
    await sleep(1_000);
    expect(simulator.requests.filter((request) => request.prompt.includes('Carol: retried'))).toHaveLength(1);
    const ran = [];
    for (const jobId of await queuedJobIds(redis)) {
      if ((await redis.hget(`bull:summarization:${jobId}`, 'failedReason'))?.startsWith('refused')) continue;
      ran.push(jobId);
    }
    expect(ran).toHaveLength(3); // key-1, key-2 and key-3, once each
  }, 30_000);

  it("a cancelled job's input is deleted at once, its cancelled state still reported", async () => {
    simulator.latencyMs = 300;
    const { body } = await generate(gateway, readTranscript('ES2004a.txt'));
    const jobId = body.jobId ?? '';
    await waitFor(async () => simulator.requests.length >= 2, 15_000, 'the job to be running');
    // The text lives in its own key, not in the job (which every status poll reads and parses).
    const textKey = `llm-gateway:text:${jobId}`;
    expect(await redis.strlen(textKey)).toBeGreaterThan(10_000);
    const running = JSON.parse((await redis.hget(`bull:summarization:${jobId}`, 'data')) ?? '{}') as {
      text?: string;
    };
    expect(running.text).toBe('');
    const cancelled = await fetch(`${gateway.baseUrl}/results/${jobId}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    expect(await redis.exists(textKey)).toBe(0);
    await waitFor(
      async () => (await fetch(`${gateway.baseUrl}/results/${jobId}`)).status === 500,
      15_000,
      'the job to end cancelled',
    );
    const result = (await (await fetch(`${gateway.baseUrl}/results/${jobId}`)).json()) as {
      details?: string;
    };
    expect(result.details).toBe('cancelled');
    const after = JSON.parse((await redis.hget(`bull:summarization:${jobId}`, 'data')) ?? '{}') as {
      text?: string;
    };
    expect(after.text ?? '').toBe('');
    expect(await redis.exists(`llm-gateway:checkpoint:${jobId}`, `llm-gateway:partial:${jobId}`)).toBe(0);
  }, 30_000);
});
