// Foundation figures: cold start of the built gateway and manifest hot-reload latency, each with
// a baseline measured in the same run. Run with `npm run bench`.
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPOSITORY_ROOT } from '../test/support/gateway';
import { findFreePort, startRedisServer } from '../test/support/redis-server';

const ROOT = REPOSITORY_ROOT;
const MAIN = join(ROOT, 'dist', 'main.js');
const COLD_START_RUNS = 5;
const RELOAD_RUNS = 20;

interface Running {
  child: ChildProcess;
  port: number;
  root: string;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const startedAt = performance.now();
  while (performance.now() - startedAt < timeoutMs) {
    if (await check().catch(() => false)) return performance.now() - startedAt;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no answer within ${timeoutMs} ms`);
}

const answers = (port: number) => async () => (await fetch(`http://127.0.0.1:${port}/healthcheck`)).ok;

async function startGateway(redisUrl: string): Promise<Running & { startMs: number }> {
  const root = mkdtempSync(join(tmpdir(), 'bench-gateway-'));
  cpSync(join(ROOT, '.hydra-conf'), join(root, '.hydra-conf'), { recursive: true });
  cpSync(join(ROOT, 'prompts'), join(root, 'prompts'), { recursive: true });
  const port = await findFreePort();
  const startedAt = performance.now();
  const child = spawn(process.execPath, [MAIN], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HTTP_PORT: String(port),
      SERVICES_BROKER: redisUrl,
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  await waitUntil(answers(port), 20_000);
  return { child, port, root, startMs: performance.now() - startedAt };
}

async function stop(running: Running): Promise<void> {
  const exited = new Promise((resolve) => running.child.once('exit', resolve));
  running.child.kill('SIGTERM');
  await exited;
  rmSync(running.root, { recursive: true, force: true });
}

async function bareNodeServerStartMs(): Promise<number> {
  const port = await findFreePort();
  const startedAt = performance.now();
  const child = spawn(
    process.execPath,
    ['-e', `require('http').createServer((q, s) => s.end('"1"')).listen(${port}, '127.0.0.1')`],
    { stdio: 'ignore' },
  );
  await waitUntil(answers(port), 10_000);
  const elapsed = performance.now() - startedAt;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return elapsed;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const max = (values: number[]) => Math.max(...values);
const ms = (value: number) => `${value.toFixed(0)} ms`;

async function main(): Promise<void> {
  const redis = await startRedisServer();
  try {
    const gatewayStarts: number[] = [];
    const bareStarts: number[] = [];
    for (let run = 0; run < COLD_START_RUNS; run += 1) {
      const gateway = await startGateway(redis.url);
      gatewayStarts.push(gateway.startMs);
      await stop(gateway);
      bareStarts.push(await bareNodeServerStartMs());
    }

    const gateway = await startGateway(redis.url);
    const servicesDir = join(gateway.root, '.hydra-conf', 'services');
    const template = readFileSync(join(servicesDir, 'summarize-en.yaml'), 'utf8');
    const routes = async () =>
      ((await (await fetch(`http://127.0.0.1:${gateway.port}/services`)).json()) as { route: string }[]).map(
        (service) => service.route,
      );
    const addTimes: number[] = [];
    const removeTimes: number[] = [];
    for (let run = 0; run < RELOAD_RUNS; run += 1) {
      const route = `bench/route-${run}`;
      const file = join(servicesDir, `bench-${run}.yaml`);
      writeFileSync(file, template.replace('summarize/en:', `${route}:`));
      addTimes.push(await waitUntil(async () => (await routes()).includes(route), 5_000));
      rmSync(file);
      removeTimes.push(await waitUntil(async () => !(await routes()).includes(route), 5_000));
    }
    await stop(gateway);

    const restart = median(gatewayStarts);
    process.stdout.write(
      [
        `## Cold start: spawn to first /healthcheck 200 (median of ${COLD_START_RUNS}, max)`,
        '',
        '| what | ours | baseline: bare node http server | ratio |',
        '| --- | --- | --- | --- |',
        `| cold start | ${ms(restart)} (max ${ms(max(gatewayStarts))}) | ${ms(median(bareStarts))} (max ${ms(max(bareStarts))}) | ${(restart / median(bareStarts)).toFixed(2)} |`,
        '',
        `## Hot reload: file saved to /services changed (median of ${RELOAD_RUNS}, max); docs/api.md: under 2 s`,
        '',
        '| change | ours | baseline: restart the gateway (cold start) | ratio |',
        '| --- | --- | --- | --- |',
        `| add a manifest | ${ms(median(addTimes))} (max ${ms(max(addTimes))}) | ${ms(restart)} | ${(median(addTimes) / restart).toFixed(2)} |`,
        `| delete a manifest | ${ms(median(removeTimes))} (max ${ms(max(removeTimes))}) | ${ms(restart)} | ${(median(removeTimes) / restart).toFixed(2)} |`,
        '',
      ].join('\n'),
    );
  } finally {
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${String(error)}\n`);
  process.exit(1);
});
