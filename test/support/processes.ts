import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { REPOSITORY_ROOT, type TestGateway, waitFor } from './gateway';
import { findFreePort } from './redis-server';

/** Starts a program: `spawn` itself, or a launcher that runs it elsewhere (another network namespace). */
export type ProgramLauncher = (command: string, args: string[], options: SpawnOptions) => ChildProcess;

/**
 * The built gateway (`dist/main.js`) as its own process, in `cwd`, with only the given variables,
 * started by `launch` (here by default).
 */
export function startGatewayProcess(
  cwd: string,
  env: Record<string, string>,
  launch: ProgramLauncher = spawn,
): ChildProcess {
  return launch(process.execPath, [join(REPOSITORY_ROOT, 'dist/main.js')], {
    cwd,
    // RESULT_CACHE_TTL=0: see startTestGateway.
    env: { PATH: process.env.PATH ?? '', LOG_FORMAT: 'json', RESULT_CACHE_TTL: '0', ...env },
    stdio: 'ignore',
  });
}

/**
 * A worker process (ROLE=worker) sharing a gateway's Redis and files, calling `llmBaseUrl`. Its
 * lock is 1 s unless `env` says otherwise, so that a killed worker's job is picked up quickly.
 */
export function startWorkerProcess(
  shared: Pick<TestGateway, 'root' | 'redisUrl'>,
  llmBaseUrl: string,
  env: Record<string, string> = {},
): ChildProcess {
  return startGatewayProcess(shared.root, {
    ROLE: 'worker',
    // Workers serve their health routes too: an ephemeral port each, never a fixed one.
    HTTP_PORT: '0',
    SERVICES_BROKER: shared.redisUrl,
    OPENAI_API_BASE: llmBaseUrl,
    JOB_LOCK_SECONDS: '1',
    MAX_RETRY_DELAY: '0.05',
    ...env,
  });
}

/** An API process (ROLE=api) on a free port; resolves with its base URL once it answers. */
export async function startApiProcess(
  cwd: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; baseUrl: string }> {
  const port = await findFreePort();
  const child = startGatewayProcess(cwd, { ROLE: 'api', HTTP_PORT: String(port), ...env });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`API process exited with ${child.exitCode}`);
      return fetch(`${baseUrl}/healthcheck`).then(
        (response) => response.ok,
        () => false,
      );
    },
    20_000,
    `the API process on port ${port}`,
  );
  return { child, baseUrl };
}

/** Stops a process this test started, by its pid, and waits for its exit. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}
