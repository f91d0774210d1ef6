import Redis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestGateway, type TestGateway, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import { installTestServices } from './support/pipeline-fixtures';
import { freezeRedis, type RedisServerHandle, startRedisServer, thawRedis } from './support/redis-server';

/**
 * Issues 10 and 13 designed together: with a replica, a job is answered 200 only once a replica
 * holds it (`WAIT`). A replica that does not acknowledge in time (frozen here with SIGSTOP) makes
 * the request a 503 that leaves nothing behind: the job is taken back and never runs, even once
 * the replica answers again.
 */
describe('a job no replica acknowledged in time', () => {
  let master: RedisServerHandle;
  let replica: RedisServerHandle;
  let simulator: LlmSimulator;
  let gateway: TestGateway;
  let redis: Redis;

  beforeAll(async () => {
    // Diskless replication: the full sync writes no dump.rdb into the working directory.
    master = await startRedisServer(['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']);
    replica = await startRedisServer([
      '--replicaof',
      '127.0.0.1',
      String(master.port),
      '--repl-diskless-load',
      'swapdb',
    ]);
    simulator = await new LlmSimulator().start();
    gateway = await startTestGateway({
      seedSamples: false,
      redisUrl: master.url,
      env: { ROLE: 'all', OPENAI_API_BASE: simulator.baseUrl, MAX_RETRY_DELAY: '0.05' },
    });
    await installTestServices(gateway);
    redis = new Redis(master.url);
    await waitFor(
      async () => /^slave0:.*state=online/m.test(await redis.info('replication')),
      10_000,
      'the replica to be in sync with the master',
    );
  });
  afterAll(async () => {
    thawRedis(replica);
    redis.disconnect();
    await gateway.close();
    await simulator.stop();
    await replica.stop();
    await master.stop();
  });

  async function generate(content: string): Promise<{ status: number; jobId?: string; elapsedMs: number }> {
    const startedAt = Date.now();
    const response = await fetch(`${gateway.baseUrl}/services/test/map/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content, flavor: 'small' }),
      signal: AbortSignal.timeout(5_000),
    });
    const body = (await response.json()) as { jobId?: string };
    return { status: response.status, jobId: body.jobId, elapsedMs: Date.now() - startedAt };
  }

  async function waitForComplete(jobId: string): Promise<void> {
    await waitFor(
      async () => {
        const body = (await (await fetch(`${gateway.baseUrl}/results/${jobId}`)).json()) as {
          status: string;
        };
        return body.status === 'complete';
      },
      15_000,
      `job ${jobId} to complete`,
    );
  }

  /** BullMQ's job hashes of the queue, whatever their state. */
  async function jobIdsInQueue(): Promise<string[]> {
    const keys = await redis.keys('bull:summarization:*');
    return keys
      .map((key) => key.slice('bull:summarization:'.length))
      .filter((rest) => /^[0-9a-f-]{36}$/.test(rest));
  }

  it('is answered 503 and never runs; with the replica back, jobs are accepted again', async () => {
    const before = await generate('Alice: the replica acknowledges this one.');
    expect(before.status).toBe(200);
    await waitForComplete(before.jobId ?? '');
    const callsBefore = simulator.requests.length;

    freezeRedis(replica);
    const refused = await generate('Bob: no replica will hold this one in time.');
    expect(refused.status).toBe(503);
    expect(refused.elapsedMs).toBeLessThan(5_000);
    thawRedis(replica);

    // Nothing of the refused job is left to run: only the first job's hash remains, and no call
    // reaches the LLM while the worker keeps polling the queue.
    await waitFor(async () => (await jobIdsInQueue()).length === 1, 10_000, 'the refused job to be removed');
    await sleep(2_000);
    expect(await jobIdsInQueue()).toEqual([before.jobId]);
    expect(simulator.requests.length).toBe(callsBefore);

    const after = await generate('Carol: the replica is back, so this one is accepted.');
    expect(after.status).toBe(200);
    await waitForComplete(after.jobId ?? '');
  }, 60_000);
});
