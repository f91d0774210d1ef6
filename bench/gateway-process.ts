import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { REPOSITORY_ROOT, waitFor } from '../test/support/gateway';
import { startGatewayProcess, stopProcess } from '../test/support/processes';
import { findFreePort } from '../test/support/redis-server';

/** A gateway process of a bench, in a folder of its own (`.hydra-conf/services/`, `prompts/`). */
export interface BenchGateway {
  root: string;
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * Our gateway as production runs it: a process of its own (dist/main.js, `npm run build` first),
 * with `env` on top of a free HTTP_PORT, in an empty folder the caller fills with services and
 * prompts (the gateway watches it). Resolves once it answers /healthcheck.
 */
export async function startBenchGatewayProcess(env: Record<string, string>): Promise<BenchGateway> {
  const root = mkdtempSync(join(tmpdir(), 'bench-gateway-'));
  mkdirSync(join(root, '.hydra-conf', 'services'), { recursive: true });
  mkdirSync(join(root, 'prompts'));
  const port = await findFreePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = startGatewayProcess(root, { HTTP_PORT: String(port), LOG_LEVEL: 'warn', ...env });
  const close = async () => {
    await stopProcess(child);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => (await fetch(`${baseUrl}/healthcheck`).catch(() => undefined))?.ok === true,
      30_000,
      'the gateway process to answer /healthcheck',
    );
  } catch (error) {
    await close();
    throw error;
  }
  return { root, baseUrl, close };
}

/** A `ROLE=api` process of the benches that measure submissions. */
export interface SampleApiProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * A `ROLE=api` gateway process (jobs are only queued, so a figure is the API's, not the LLM's) on
 * the repository's sample services and prompts, `nodeArguments` before dist/main.js (a CPU
 * profile, say). Resolves once it is ready.
 */
export async function startSampleApiProcess(
  redisUrl: string,
  nodeArguments: readonly string[] = [],
): Promise<SampleApiProcess> {
  const root = mkdtempSync(join(tmpdir(), 'bench-api-'));
  cpSync(join(REPOSITORY_ROOT, '.hydra-conf'), join(root, '.hydra-conf'), { recursive: true });
  cpSync(join(REPOSITORY_ROOT, 'prompts'), join(root, 'prompts'), { recursive: true });
  const port = await findFreePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [...nodeArguments, join(REPOSITORY_ROOT, 'dist', 'main.js')], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      ROLE: 'api',
      HTTP_PORT: String(port),
      SERVICES_BROKER: redisUrl,
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  const close = async () => {
    await stopProcess(child);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => (await fetch(`${baseUrl}/health/ready`).catch(() => undefined))?.ok === true,
      20_000,
      'the API process to be ready',
    );
  } catch (error) {
    await close();
    throw error;
  }
  return { child, port, baseUrl, close };
}

/** Follows jobs on one `/ws/results` socket, kept open across jobs as a front end keeps it. */
export interface JobFollower {
  /** Resolves when the job is `complete` (rejects on any other end). */
  follow(jobId: string): Promise<void>;
  close(): void;
}

/**
 * Opens `/ws/results` on the gateway: each followed job's id is sent in an array, and its changes
 * come as objects with `task_id` (docs/api.md). Polling `/results` every few milliseconds would
 * cost the gateway's event loop more than the job's own work, and opening a socket per job would
 * put its upgrade on the job's path.
 */
export async function openJobFollower(baseUrl: string): Promise<JobFollower> {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws/results`);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const followed = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  const settle = (body: { task_id?: string; status?: string }) => {
    const job = body.task_id === undefined ? undefined : followed.get(body.task_id);
    if (!job || body.status === undefined) return;
    if (['queued', 'started', 'processing'].includes(body.status)) return;
    followed.delete(body.task_id ?? '');
    if (body.status === 'complete') job.resolve();
    else job.reject(new Error(`job ${body.task_id ?? '?'} ended as ${JSON.stringify(body)}`));
  };
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString('utf8')) as unknown;
    for (const body of Array.isArray(message) ? message : [message]) {
      settle(body as { task_id?: string; status?: string });
    }
  });
  socket.once('close', () => {
    for (const job of followed.values()) job.reject(new Error('the results socket closed'));
    followed.clear();
  });
  return {
    follow: (jobId) =>
      new Promise<void>((resolve, reject) => {
        followed.set(jobId, { resolve, reject });
        socket.send(JSON.stringify([jobId]));
      }),
    close: () => socket.terminate(),
  };
}
