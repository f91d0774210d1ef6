// Jobs per minute with 1, 2 and 4 worker processes (ROLE=worker, CONCURRENCY=1 each) against one
// API process, the LLM simulator not saturated (MAX_CONCURRENT_INFERENCES above the workers'
// demand), and the ratio to one worker (target: 4 workers >= 3.5x). Run with `npm run bench`.
import type { ChildProcess } from 'node:child_process';
import { startTestGateway } from '../test/support/gateway';
import { LlmSimulator } from '../test/support/llm-simulator';
import { followJob, installTestServices, readTranscript, submit } from '../test/support/pipeline-fixtures';
import { startWorkerProcess, stopProcess } from '../test/support/processes';
import { startRedisServer } from '../test/support/redis-server';

const LATENCY_MS = 50;
const JOBS_PER_WORKER = 6;
const WORKER_COUNTS = [1, 2, 4];

async function jobsPerMinute(workerCount: number): Promise<number> {
  const redis = await startRedisServer();
  process.env.TEST_REDIS_URL = redis.url;
  const simulator = await new LlmSimulator({ latencyMs: LATENCY_MS }).start();
  const api = await startTestGateway({ seedSamples: false, env: { ROLE: 'api', LOG_LEVEL: 'warn' } });
  const workers: ChildProcess[] = [];
  try {
    await installTestServices(api);
    const env = {
      CONCURRENCY: '1',
      MAX_CONCURRENT_INFERENCES: '64',
      LOG_LEVEL: 'warn',
      JOB_LOCK_SECONDS: '30',
    };
    for (let index = 0; index < workerCount; index += 1) {
      workers.push(startWorkerProcess(api, simulator.baseUrl, env));
    }
    // Every worker started (a built process connects within a second or two) before the clock starts.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const text = readTranscript('ES2004a.txt');
    const startedAt = performance.now();
    const jobIds = await Promise.all(
      Array.from({ length: JOBS_PER_WORKER * workerCount }, () => submit(api, 'test/progressive', text)),
    );
    const finals = await Promise.all(
      jobIds.map(async (jobId) => (await followJob(api, jobId, 600_000)).at(-1)),
    );
    const minutes = (performance.now() - startedAt) / 60_000;
    const incomplete = finals.filter((final) => final?.status !== 'complete');
    if (incomplete.length > 0) throw new Error(`${incomplete.length} job(s) did not complete`);
    return jobIds.length / minutes;
  } finally {
    await Promise.all(workers.map((worker) => stopProcess(worker)));
    await api.close();
    await simulator.stop();
    await redis.stop();
  }
}

async function main(): Promise<void> {
  const rates: number[] = [];
  for (const count of WORKER_COUNTS) rates.push(await jobsPerMinute(count));
  const single = rates[0] ?? 1;
  process.stdout.write(
    [
      `## Scale-out: jobs per minute, ES2004a.txt in progressive mode, simulator at ${LATENCY_MS} ms, ${JOBS_PER_WORKER} jobs per worker, CONCURRENCY=1 per worker`,
      '',
      '| worker processes | ours: jobs/min | baseline: one worker | ratio (target for 4: >= 3.5) |',
      '| --- | --- | --- | --- |',
      ...WORKER_COUNTS.map(
        (count, index) =>
          `| ${count} | ${(rates[index] ?? 0).toFixed(1)} | ${single.toFixed(1)} | ${((rates[index] ?? 0) / single).toFixed(2)} |`,
      ),
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${String(error)}\n`);
  process.exit(1);
});
