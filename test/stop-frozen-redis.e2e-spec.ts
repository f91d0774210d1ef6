import type { ChildProcess } from 'node:child_process';
import { startTestGateway, type TestGateway, waitFor } from './support/gateway';
import { startGatewayProcess } from './support/processes';
import {
  findFreePort,
  freezeRedis,
  type RedisServerHandle,
  startRedisServer,
  thawRedis,
} from './support/redis-server';

/**
 * Issue 13: a process asked to stop while Redis is frozen (SIGSTOP: its sockets open, no answer)
 * ends by its own graceful path within seconds: a polite QUIT or BullMQ close that Redis never
 * answers is bounded, and the process-wide stop deadline (25 s) is not what ends it.
 */
describe('stopping while Redis is frozen', () => {
  let server: RedisServerHandle;
  let files: TestGateway; // only for its folder of sample manifests and prompts
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    server = await startRedisServer();
    files = await startTestGateway({ redisUrl: server.url, env: { ROLE: 'api' } });
  });
  afterEach(() => {
    thawRedis(server);
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });
  afterAll(async () => {
    await files.close();
    await server.stop();
  });

  it.each(['api', 'worker', 'all'])(
    'ROLE=%s ends within 15 s of SIGTERM',
    async (role) => {
      const port = await findFreePort();
      const started = startGatewayProcess(files.root, {
        ROLE: role,
        HTTP_PORT: String(port),
        SERVICES_BROKER: server.url,
        OPENAI_API_BASE: 'http://127.0.0.1:9/v1', // no LLM needed: nothing is submitted
      });
      child = started;
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        started.once('exit', (code, signal) => resolve({ code, signal })),
      );
      // Up, with every Redis connection made (readiness checks Redis; the event reader starts then).
      await waitFor(
        async () => {
          if (started.exitCode !== null)
            throw new Error(`the ${role} process exited with ${started.exitCode}`);
          const response = await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => undefined);
          return response?.ok ?? false;
        },
        20_000,
        `the ${role} process`,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));

      freezeRedis(server);
      started.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        exit,
        new Promise<'still running'>(
          (resolve) => (timer = setTimeout(() => resolve('still running'), 15_000)),
        ),
      ]);
      clearTimeout(timer);
      // Nest re-raises the signal once closed; the stop deadline would exit with code 1 instead.
      expect(ended).toEqual({ code: null, signal: 'SIGTERM' });
    },
    60_000,
  );
});
