import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import { installTestServices } from './support/pipeline-fixtures';
import { startApiProcess, startWorkerProcess, stopProcess } from './support/processes';
import { type SentinelSetHandle, startSentinelSet } from './support/redis-sentinel';

const JOB_COUNT = 30;
const SUBMIT_INTERVAL_MS = 330;
const REQUEST_BOUND_MS = 5_000;

describe('Redis Sentinel failover', () => {
  let sentinels: SentinelSetHandle;
  let simulator: LlmSimulator;
  let root: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    sentinels = await startSentinelSet();
    simulator = await new LlmSimulator().start();
    simulator.latencyMs = 50;
    root = mkdtempSync(join(tmpdir(), 'gateway-sentinel-'));
    mkdirSync(join(root, '.hydra-conf', 'services'), { recursive: true });
    mkdirSync(join(root, 'prompts'));
  });
  afterAll(async () => {
    await Promise.all(children.splice(0).map((child) => stopProcess(child, 'SIGKILL')));
    await simulator.stop();
    await sentinels.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('every job answered 200 completes when the master is killed mid-run; the API answers 503 meanwhile, never hangs', async () => {
    const env = { SERVICES_BROKER: sentinels.url, OPENAI_API_BASE: simulator.baseUrl };
    const api = await startApiProcess(root, env);
    children.push(api.child);
    const worker = startWorkerProcess({ root, redisUrl: sentinels.url }, simulator.baseUrl, {
      JOB_LOCK_SECONDS: '5',
    });
    children.push(worker);
    await installTestServices({ root, baseUrl: api.baseUrl });

    const answers: { index: number; status: number; jobId?: string; detail?: string; elapsedMs: number }[] =
      [];
    let killedAt = 0;
    const requests: Promise<void>[] = [];
    for (let index = 0; index < JOB_COUNT; index += 1) {
      if (index === 8) {
        sentinels.master.process.kill('SIGKILL');
        killedAt = Date.now();
      }
      requests.push(
        (async () => {
          const started = Date.now();
          const response = await fetch(`${api.baseUrl}/services/test/map/generate`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ content: `Alice: job ${index}\nBob: noted ${index}`, flavor: 'small' }),
            signal: AbortSignal.timeout(REQUEST_BOUND_MS),
          });
          const body = (await response.json()) as { jobId?: string; detail?: string };
          answers.push({
            index,
            status: response.status,
            jobId: body.jobId,
            elapsedMs: Date.now() - started,
          });
        })(),
      );
      await sleep(SUBMIT_INTERVAL_MS);
    }
    await Promise.all(requests);

    const accepted = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 503);
    expect(answers.filter((answer) => answer.status !== 200 && answer.status !== 503)).toEqual([]);
    expect(accepted.length + refused.length).toBe(JOB_COUNT); // nothing else, and no request hung
    expect(Math.max(...answers.map((answer) => answer.elapsedMs))).toBeLessThan(REQUEST_BOUND_MS);
    expect(refused.length).toBeGreaterThan(0); // the switch was seen
    expect(accepted.filter((answer) => answer.index > 8).length).toBeGreaterThan(0); // and ended
    expect(await sentinels.currentMasterPort()).toBe(sentinels.replica.port);

    const unfinished = new Set(accepted.map((answer) => answer.jobId ?? ''));
    await waitFor(
      async () => {
        for (const jobId of unfinished) {
          const response = await fetch(`${api.baseUrl}/results/${jobId}`);
          if (response.status === 200) unfinished.delete(jobId);
        }
        return unfinished.size === 0;
      },
      30_000,
      'every accepted job to complete',
    );
    expect(api.child.exitCode).toBeNull();
    expect(worker.exitCode).toBeNull();
    const firstAfterKill = accepted.find((answer) => answer.index >= 8);
    process.stdout.write(
      `sentinel failover: ${accepted.length} accepted (all completed), ${refused.length} refused (503, ` +
        `slowest answer ${Math.max(...answers.map((answer) => answer.elapsedMs))} ms); first acceptance after ` +
        `the kill: request ${firstAfterKill?.index ?? '-'}, killed at ${killedAt}\n`,
    );
  }, 60_000);
});
