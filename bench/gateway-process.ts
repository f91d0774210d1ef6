import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { waitFor } from '../test/support/gateway';
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

/**
 * Resolves when the job's WebSocket says `complete` (rejects on any other end), as a front end
 * follows a job: polling `/results` every few milliseconds would cost the gateway's event loop
 * more than the job's own work, and poll by poll add up to an interval to the figure.
 */
export async function followUntilComplete(baseUrl: string, jobId: string): Promise<void> {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws/results/${jobId}`);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.on('message', (data: Buffer) => {
        const body = JSON.parse(data.toString('utf8')) as { status: string };
        if (body.status === 'complete') resolve();
        else if (!['queued', 'started', 'processing'].includes(body.status))
          reject(new Error(`job ${jobId} ended as ${JSON.stringify(body)}`));
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`the socket of job ${jobId} closed before its end`)));
    });
  } finally {
    socket.terminate();
  }
}
