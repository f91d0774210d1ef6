#!/usr/bin/env node
// `npm run local`: runs the gateway on this machine with the repository's sample .hydra-conf/ and
// prompts/. Installs the npm packages when missing; starts the LLM simulator when OPENAI_API_BASE is
// the default and nothing answers there; starts this run's own redis-server (a free port when
// 6379 is taken, so two runs never share a queue) unless SERVICES_BROKER is set, which means
// sharing that Redis on purpose (installing redis-server from apt when absent and running as
// root), builds, then runs the gateway. Ctrl-C stops everything it started.
// Plain CommonJS with no dependency, so it runs before `npm ci`.
'use strict';

const { spawn } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync } = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { root, runOrThrow, ensureNodeModules, ensureRedisServerInstalled } = require('./prerequisites');
const { decideRedis } = require('./local-redis');
const started = []; // { name, child } in start order; stopped in reverse order
let isStopping = false;

function say(message) {
  process.stdout.write(`[local] ${message}\n`);
}

function fail(message) {
  process.stderr.write(`[local] ${message}\n`);
  stopAll(1);
}

/** Variables as the gateway will see them: the process environment over .env. */
function readSettings() {
  const fromFile = {};
  const dotenvFile = path.join(root, '.env');
  if (existsSync(dotenvFile)) {
    for (const line of readFileSync(dotenvFile, 'utf8').split('\n')) {
      const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
      if (match) fromFile[match[1]] = match[2].replace(/^(['"])(.*)\1$/, '$2');
    }
  }
  return { ...fromFile, ...process.env };
}

function answers(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (isUp) => {
      socket.destroy();
      resolve(isUp);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => done(true));
  });
}

async function waitUntilAnswers(host, port, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await answers(host, port)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  fail(`${what} did not answer on ${host}:${port} within ${timeoutMs / 1000} s`);
}

function startChild(name, command, args, env = process.env) {
  // Own process group: Ctrl-C reaches this launcher only, which then stops children in order.
  const child = spawn(command, args, { cwd: root, env, stdio: 'inherit', detached: true });
  started.push({ name, child });
  child.once('exit', (code, signal) => {
    if (!isStopping) {
      process.stderr.write(`[local] ${name} exited (${signal ?? `code ${code}`}); stopping the rest\n`);
      stopAll(code ?? 1);
    }
  });
  return child;
}

function stopAll(exitCode) {
  if (isStopping) return;
  isStopping = true;
  const running = started
    .filter(({ child }) => child.exitCode === null && child.signalCode === null)
    .reverse();
  const stopNext = () => {
    const next = running.shift();
    if (!next) {
      process.exit(exitCode);
      return;
    }
    say(`stopping ${next.name} (pid ${next.child.pid})`);
    const forceTimer = setTimeout(() => {
      try {
        process.kill(-next.child.pid, 'SIGKILL');
      } catch {
        next.child.kill('SIGKILL');
      }
    }, 10_000);
    next.child.once('exit', () => {
      clearTimeout(forceTimer);
      stopNext();
    });
    // The whole group: a child's own children (Nest's watch mode runs the gateway) stop too.
    try {
      process.kill(-next.child.pid, 'SIGTERM');
    } catch {
      next.child.kill('SIGTERM');
    }
  };
  stopNext();
}

/** A free TCP port of this machine, chosen by the kernel. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Two local runs never share a queue by accident (decideRedis): without SERVICES_BROKER this run
 * starts its own redis-server (a free port when 6379 is taken) and gives its URL to the gateway.
 */
async function ensureRedis(settings) {
  const explicit = settings.SERVICES_BROKER || undefined;
  const explicitUrl = explicit ? new URL(explicit) : undefined;
  const decision = decideRedis({
    explicitBroker: explicit,
    isDefaultPortAnswering: explicit ? false : await answers('127.0.0.1', 6379),
    isExplicitAnswering: explicitUrl
      ? await answers(explicitUrl.hostname, Number(explicitUrl.port || 6379))
      : false,
    freePort: await freePort(),
  });
  say(decision.message);
  if (decision.action === 'fail') fail(decision.message);
  if (decision.action !== 'start') return decision.url;
  ensureRedisServerInstalled();
  // One folder per port: two runs of one checkout never share a data file; the pid file tells
  // which process holds the port.
  const dataDir = path.join(root, '.local', 'redis', String(decision.port));
  mkdirSync(dataDir, { recursive: true });
  const password =
    settings.BROKER_PASS && settings.BROKER_PASS !== 'EMPTY' ? settings.BROKER_PASS : undefined;
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    String(decision.port),
    '--dir',
    dataDir,
    '--pidfile',
    path.join(dataDir, 'redis.pid'),
    '--maxmemory-policy',
    'noeviction',
  ];
  if (password) args.push('--requirepass', password);
  startChild('redis-server', 'redis-server', args);
  await waitUntilAnswers('127.0.0.1', decision.port, 'redis-server');
  return decision.url;
}

const DEFAULT_LLM_BASE = 'http://localhost:9000/v1';

/** With the default OPENAI_API_BASE and nothing answering there, runs the LLM simulator on it. */
async function ensureLlm(settings) {
  const base = settings.OPENAI_API_BASE || DEFAULT_LLM_BASE;
  const url = new URL(base);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  if (await answers(url.hostname, port)) {
    say(`an LLM API answers at ${base}: using it`);
    return;
  }
  if (base !== DEFAULT_LLM_BASE) {
    say(`WARNING: nothing answers at OPENAI_API_BASE=${base}; jobs will fail until it does`);
    return;
  }
  runOrThrow('npm', ['run', '--silent', 'build:support']);
  startChild(
    'llm-simulator',
    process.execPath,
    [path.join(root, '.local', 'support', 'test', 'support', 'fake-llm.cli.js')],
    {
      ...process.env,
      FAKE_LLM_PORT: String(port),
    },
  );
  await waitUntilAnswers('127.0.0.1', port, 'the LLM simulator');
  say('**************************************************************************************');
  say(`* No LLM answers at ${base}: started the LLM SIMULATOR there.`);
  say('* Summaries are canned (each turn cut to 8 words). Point OPENAI_API_BASE at vLLM,');
  say('* OpenAI or Ollama for real ones.');
  say('**************************************************************************************');
}

async function main() {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => stopAll(0));
  ensureNodeModules();
  const settings = readSettings();
  // The gateway (a child of this process) reads the Redis chosen here.
  process.env.SERVICES_BROKER = await ensureRedis(settings);
  await ensureLlm(settings);
  say('building (npm run build)');
  runOrThrow('npm', ['run', '--silent', 'build']);
  say(
    `starting the gateway on http://localhost:${settings.HTTP_PORT || 8000} (docs at ${settings.SWAGGER_URL || '/docs'}); Ctrl-C stops everything`,
  );
  if (isWatchMode) {
    // `npm run start:dev`: Nest's CLI recompiles src/ and restarts the gateway on every save.
    say('watch mode: the gateway restarts when a file of src/ changes');
    startChild('gateway', process.execPath, [require.resolve('@nestjs/cli/bin/nest.js'), 'start', '--watch']);
    return;
  }
  startChild('gateway', process.execPath, [path.join(root, 'dist', 'main.js')]);
}

/** `--watch` (npm run start:dev): restart the gateway whenever its sources change. */
const isWatchMode = process.argv.includes('--watch');

main().catch((error) => fail(error instanceof Error ? error.message : String(error)));
