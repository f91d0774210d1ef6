import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { findFreePort, startRedisServer } from './support/redis-server';
import { REPOSITORY_ROOT, requiredTestRedisUrl, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';

const MAIN = join(REPOSITORY_ROOT, 'dist/main.js');

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Gateways started by a test: one left running by a failed assertion is stopped after it. */
const running = new Set<ChildProcess>();

afterEach(async () => {
  await Promise.all(
    [...running].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    }),
  );
  running.clear();
});

/** Runs the built gateway (`npm run start:prod` runs the same file) in a copy of the samples. */
function startBuiltGateway(env: Record<string, string>): {
  child: ChildProcess;
  finished: Promise<Finished>;
  output: () => string;
  root: string;
} {
  const root = mkdtempSync(join(tmpdir(), 'gateway-process-'));
  cpSync(join(REPOSITORY_ROOT, '.hydra-conf'), join(root, '.hydra-conf'), { recursive: true });
  cpSync(join(REPOSITORY_ROOT, 'prompts'), join(root, 'prompts'), { recursive: true });
  const child = spawn(process.execPath, [MAIN], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const finished = new Promise<Finished>((resolve) =>
    child.once('exit', (code, signal) => {
      rmSync(root, { recursive: true, force: true });
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, finished, output: () => stdout + stderr, root };
}

beforeAll(() => {
  if (!existsSync(MAIN))
    throw new Error('dist/main.js is missing: `npm test` builds it first (npm run build)');
});

describe('start-up refuses a bad variable with one line naming it', () => {
  it.each([
    ['HTTP_PORT', 'abc'],
    ['CONCURRENCY', '0'],
    ['TIMEOUT', '-3'],
    ['MAX_RETRIES', 'many'],
    ['ROLE', 'scheduler'],
    ['SERVICES_BROKER', 'localhost:6379'],
    ['MAX_UPLOAD_SIZE', 'huge'],
    ['LOG_FORMAT', 'xml'],
  ])('%s=%s', async (name, value) => {
    const { finished } = startBuiltGateway({ [name]: value });
    const result = await finished;
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Configuration error: Invalid environment variable ${name}`));
  });

  it('CONFIG_PATH without a services/ folder', async () => {
    const { finished } = startBuiltGateway({
      CONFIG_PATH: 'no-such-folder',
      SERVICES_BROKER: requiredTestRedisUrl(),
    });
    const result = await finished;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^Configuration error: CONFIG_PATH: the manifests folder no-such-folder\/services does not exist\n$/,
    );
  });

  it('never prints a secret it refuses', async () => {
    const { finished } = startBuiltGateway({ SERVICES_BROKER: 'http://:hunter2-secret@localhost:6379' });
    const result = await finished;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SERVICES_BROKER');
    expect(result.stderr).not.toContain('hunter2-secret');
  });
});

describe('the built gateway (start:prod)', () => {
  it('starts, serves, logs no secret, and stops cleanly on SIGTERM', async () => {
    const port = await findFreePort();
    const { child, finished, output } = startBuiltGateway({
      HTTP_PORT: String(port),
      SERVICES_BROKER: requiredTestRedisUrl(),
      OPENAI_API_TOKEN: 'sk-test-token-never-logged',
      BROKER_PASS: 'EMPTY',
      LOG_LEVEL: 'debug',
    });
    await waitFor(async () => output().includes('listening on port'), 15_000, 'the gateway to listen');
    const health = await fetch(`http://127.0.0.1:${port}/healthcheck`);
    expect(await health.text()).toBe('"1"');
    const services = (await (await fetch(`http://127.0.0.1:${port}/services`)).json()) as unknown[];
    expect(services).toHaveLength(3);

    child.kill('SIGTERM');
    const result = await finished;
    expect(result.code === 0 || result.signal === 'SIGTERM').toBe(true);
    expect(result.stdout + result.stderr).not.toContain('sk-test-token-never-logged');
    // JSON logs: every line parses.
    for (const line of result.stdout.trim().split('\n'))
      expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('ROLE=worker serves only its health routes on HTTP_PORT, starts with an empty OPENAI_API_TOKEN, stops on SIGTERM', async () => {
    const port = await findFreePort();
    // A worker is ready when Redis and the LLM answer.
    const simulator = await new LlmSimulator().start();
    const { child, finished, output } = startBuiltGateway({
      ROLE: 'worker',
      HTTP_PORT: String(port),
      SERVICES_BROKER: requiredTestRedisUrl(),
      OPENAI_API_BASE: simulator.baseUrl,
      // v1 accepted an empty token (it sent `Bearer ` with nothing after it).
      OPENAI_API_TOKEN: '',
    });
    await waitFor(async () => output().includes('Worker started'), 15_000, 'the worker to start');
    // The container health check of every role: GET /healthcheck on HTTP_PORT.
    const health = await fetch(`http://127.0.0.1:${port}/healthcheck`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('"1"');
    // Ready once its Redis connection is (it may still be connecting when the log line appears).
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200,
      10_000,
      'the worker to be ready',
    );
    await simulator.stop();
    expect(simulator.modelListAuthorizations.at(-1)).toBe('Bearer'); // the empty key, as fetch sends it
    expect(await (await fetch(`http://127.0.0.1:${port}/health/live`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    for (const path of ['/services', '/results/some-id', '/docs', '/openapi.json']) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      expect([path, response.status]).toEqual([path, 404]);
      expect(await response.json()).toHaveProperty('detail');
    }
    child.kill('SIGTERM');
    const result = await finished;
    expect(result.code === 0 || result.signal === 'SIGTERM').toBe(true);
    expect(result.stderr).not.toMatch(/Error|at .*\.js:\d+/);
  });
});

describe('stopping while Redis is away', () => {
  it('SIGTERM still ends the process (nothing can be handed back; it says so)', async () => {
    const redis = await startRedisServer();
    const port = await findFreePort();
    const { child, finished, output } = startBuiltGateway({
      HTTP_PORT: String(port),
      SERVICES_BROKER: redis.url,
    });
    await waitFor(async () => output().includes('listening on port'), 15_000, 'the gateway to listen');
    await redis.stop();
    await waitFor(async () => output().includes('Redis unreachable'), 10_000, 'the outage to be noticed');
    // Liveness never depends on Redis (a probe must not restart the pod); readiness does.
    expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(503);
    child.kill('SIGTERM');
    // Before the fix, the worker waited for Redis forever and the process never ended.
    const result = await Promise.race([
      finished,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 25_000)),
    ]);
    expect(result).toBeDefined();
    expect(result?.code === 0 || result?.signal === 'SIGTERM').toBe(true);
    expect(output()).toContain('running jobs could not be handed back');
  });
});

describe('a Redis with a password (BROKER_PASS)', () => {
  it('connects with the password, publishes services_config, and never logs the password', async () => {
    const password = 'broker-pass-never-logged';
    const protectedRedis = await startRedisServer(['--requirepass', password]);
    const port = await findFreePort();
    try {
      const { child, finished, output } = startBuiltGateway({
        HTTP_PORT: String(port),
        SERVICES_BROKER: protectedRedis.url,
        BROKER_PASS: password,
      });
      await waitFor(async () => output().includes('listening on port'), 15_000, 'the gateway to listen');
      const reader = new Redis(protectedRedis.url, { password });
      await waitFor(async () => (await reader.get('services_config')) !== null, 5_000, 'services_config');
      expect(JSON.parse((await reader.get('services_config')) ?? '[]')).toHaveLength(3);
      reader.disconnect();
      expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
      child.kill('SIGTERM');
      const result = await finished;
      expect(result.stdout + result.stderr).not.toContain(password);
    } finally {
      await protectedRedis.stop();
    }
  });
});
