import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A throwaway `redis-server` on an ephemeral loopback port, with no persistence. */
export interface RedisServerHandle {
  port: number;
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts one; `port` to (re)start it where a client already points. */
export async function startRedisServer(extraArgs: string[] = [], port?: number): Promise<RedisServerHandle> {
  port ??= await findFreePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailure = new Promise<never>((_, reject) =>
    child.once('error', (error) =>
      reject(new Error(`cannot start redis-server (is it installed?): ${error.message}`)),
    ),
  );
  try {
    await Promise.race([waitForRedis(port), spawnFailure]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** Resolves once a Redis server answers PING at `host`:`port`; rejects after 10 s. */
export async function waitForRedis(port: number, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await answersPing(port, host)) return;
    await sleep(50);
  }
  throw new Error(`redis-server did not answer on ${host}:${port} within 10 s`);
}

/** One inline PING over a raw socket: no client library, so nothing lingers after the check. */
function answersPing(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const finish = (isUp: boolean) => {
      socket.destroy();
      resolve(isUp);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    // +PONG, or -NOAUTH from a server with a password: either way it is serving.
    socket.once('data', (data) => finish(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}

/** Stops a test's redis-server without closing its sockets (SIGSTOP): clients see a Redis that never answers. */
export function freezeRedis(server: Pick<RedisServerHandle, 'process'>): void {
  server.process.kill('SIGSTOP');
}

/** Resumes a frozen redis-server (SIGCONT): it executes what it was sent meanwhile. */
export function thawRedis(server: Pick<RedisServerHandle, 'process'>): void {
  server.process.kill('SIGCONT');
}
