import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPOSITORY_ROOT, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import { findFreePort } from './support/redis-server';

/**
 * Issue 13: two `npm run local` on one machine never share a queue by accident. Both runs are the
 * real launcher (`node scripts/local.js`, as `npm run local` starts it), each with its own HTTP
 * port and neither with SERVICES_BROKER: each must start its own redis-server, a job sent to one
 * must be unknown to the other, and Ctrl-C (SIGINT) must stop every process a run started.
 */

interface LocalRun {
  launcher: ChildProcess;
  baseUrl: string;
  output: () => string;
}

const runs: LocalRun[] = [];
const simulator = new LlmSimulator();

async function startLocalRun(): Promise<LocalRun> {
  const port = await findFreePort();
  let output = '';
  const launcher = spawn(process.execPath, [join(REPOSITORY_ROOT, 'scripts/local.js')], {
    cwd: REPOSITORY_ROOT,
    // Only what a newcomer's shell would have: no SERVICES_BROKER, an LLM that answers.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      HTTP_PORT: String(port),
      OPENAI_API_BASE: simulator.baseUrl,
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const append = (chunk: Buffer) => (output += chunk.toString('utf8'));
  launcher.stdout.on('data', append);
  launcher.stderr.on('data', append);
  const run: LocalRun = { launcher, baseUrl: `http://127.0.0.1:${port}`, output: () => output };
  runs.push(run);
  await waitFor(
    async () => {
      if (launcher.exitCode !== null) throw new Error(`npm run local exited early:\n${output}`);
      return fetch(`${run.baseUrl}/healthcheck`).then(
        (response) => response.ok,
        () => false,
      );
    },
    90_000, // it builds the project first
    `npm run local on port ${port}`,
  );
  return run;
}

/** The redis-server port a run announced (`[local] starting redis-server on 127.0.0.1:<port>`). */
function redisPortOf(run: LocalRun): number {
  const match = /starting (?:this run's own )?redis-server on (?:127\.0\.0\.1:|port )(\d+)/.exec(
    run.output(),
  );
  if (!match?.[1]) throw new Error(`no redis-server start announced:\n${run.output()}`);
  return Number(match[1]);
}

/** Pids the launcher named when stopping (`[local] stopping <name> (pid <n>)`). */
function stoppedPids(run: LocalRun): number[] {
  return [...run.output().matchAll(/stopping [\w-]+ \(pid (\d+)\)/g)].map((match) => Number(match[1]));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function interrupt(run: LocalRun): Promise<void> {
  const { launcher } = run;
  if (launcher.exitCode !== null || launcher.signalCode !== null) return;
  const exited = new Promise((resolve) => launcher.once('exit', resolve));
  launcher.kill('SIGINT');
  await exited;
}

async function submit(run: LocalRun, text: string): Promise<string> {
  const response = await fetch(`${run.baseUrl}/services/summarize/en/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content: text, flavor: 'llama' }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { jobId: string }).jobId;
}

async function waitForComplete(run: LocalRun, jobId: string): Promise<void> {
  await waitFor(
    async () => {
      const body = (await (await fetch(`${run.baseUrl}/results/${jobId}`)).json()) as { status: string };
      if (body.status === 'failed') throw new Error(`job ${jobId} failed: ${JSON.stringify(body)}`);
      return body.status === 'complete';
    },
    30_000,
    `job ${jobId} to complete`,
  );
}

describe('two `npm run local` on one machine', () => {
  jest.setTimeout(240_000);

  beforeAll(async () => {
    await simulator.start();
  });

  afterAll(async () => {
    // Each launcher stops what it started; a launcher that hangs is killed, its children by pid.
    for (const run of runs.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([interrupt(run), new Promise((resolve) => (timer = setTimeout(resolve, 20_000)))]);
      clearTimeout(timer);
      if (run.launcher.exitCode === null && run.launcher.signalCode === null) run.launcher.kill('SIGKILL');
    }
    await simulator.stop();
  });

  it('each gets its own Redis and queue, and Ctrl-C leaves no process behind', async () => {
    const first = await startLocalRun();
    const second = await startLocalRun();

    const firstRedisPort = redisPortOf(first);
    const secondRedisPort = redisPortOf(second);
    expect(secondRedisPort).not.toBe(firstRedisPort);
    if (firstRedisPort === 6379) expect(second.output()).toMatch(/never share a queue/);

    const secondJob = await submit(second, 'Alice: the second run owns this job.\nBob: agreed.');
    await waitForComplete(second, secondJob);
    const asSeenByFirst = await fetch(`${first.baseUrl}/results/${secondJob}`);
    expect(asSeenByFirst.status).toBe(404);
    expect(await asSeenByFirst.json()).toMatchObject({ status: 'unknown' });

    const firstJob = await submit(first, 'Carol: and this one belongs to the first.\nDan: fine.');
    await waitForComplete(first, firstJob);
    expect((await fetch(`${second.baseUrl}/results/${firstJob}`)).status).toBe(404);

    for (const run of [second, first]) {
      await interrupt(run);
      const pids = stoppedPids(run);
      // The gateway, then its redis-server (the simulator is this test's).
      expect(pids.length).toBeGreaterThanOrEqual(2);
      expect(pids.filter(isAlive)).toEqual([]);
    }
  });
});
