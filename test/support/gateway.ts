import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import Redis from 'ioredis';
import { createGateway } from '../../src/app.factory';
import type { AppConfig } from '../../src/config/app-config';
import { loadAppConfig } from '../../src/config/load-app-config';
import { ManifestsRepository } from '../../src/services/manifests.repository';

/** The folder holding package.json, found upwards (test support also runs compiled, from .local/). */
export const REPOSITORY_ROOT = findRepositoryRoot(__dirname);

function findRepositoryRoot(start: string): string {
  for (let folder = start; folder !== dirname(folder); folder = dirname(folder)) {
    if (existsSync(join(folder, 'package.json')) && existsSync(join(folder, '.hydra-conf'))) return folder;
  }
  throw new Error(`no repository root above ${start}`);
}

/** Keeps every log line so tests can assert what an operator would read. */
export class RecordingLogger implements LoggerService {
  readonly lines: { level: string; context: string; message: string }[] = [];
  log = (message: unknown, context?: unknown) => this.record('log', message, context);
  error = (message: unknown, ...rest: unknown[]) => this.record('error', message, rest.at(-1));
  warn = (message: unknown, context?: unknown) => this.record('warn', message, context);
  debug = (message: unknown, context?: unknown) => this.record('debug', message, context);
  verbose = (message: unknown, context?: unknown) => this.record('verbose', message, context);

  matching(pattern: RegExp): string[] {
    return this.lines.map((line) => line.message).filter((message) => pattern.test(message));
  }

  private record(level: string, message: unknown, context: unknown): void {
    const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
    this.lines.push({ level, context: text(context ?? ''), message: text(message) });
  }
}

export interface TestGateway {
  baseUrl: string;
  /** This gateway's own Redis database (see isolatedRedisUrl). */
  redisUrl: string;
  /** The temporary working directory holding `.hydra-conf/` and `prompts/`. */
  root: string;
  config: AppConfig;
  logger: RecordingLogger;
  /** A provider of the running application, e.g. to count what it holds. */
  get<T>(type: new (...args: never[]) => T): T;
  /** Resolves once the manifest watcher has applied every change it has seen. */
  manifestsIdle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the real HTTP gateway in this process on an ephemeral port, in a temporary working
 * directory seeded with the repository's sample `.hydra-conf/` and `prompts/` (or empty).
 */
export async function startTestGateway(
  options: {
    env?: Record<string, string>;
    seedSamples?: boolean;
    /** A folder holding `.hydra-conf/` and `prompts/` to copy instead of the repository's samples. */
    seedFrom?: string;
    redisUrl?: string;
  } = {},
): Promise<TestGateway> {
  const redisUrl = options.redisUrl ?? (await isolatedRedisUrl());
  const root = mkdtempSync(join(tmpdir(), 'gateway-'));
  if (options.seedSamples ?? true) {
    const source = options.seedFrom ?? REPOSITORY_ROOT;
    cpSync(join(source, '.hydra-conf'), join(root, '.hydra-conf'), { recursive: true });
    cpSync(join(source, 'prompts'), join(root, 'prompts'), { recursive: true });
  } else {
    mkdirSync(join(root, '.hydra-conf', 'services'), { recursive: true });
    mkdirSync(join(root, 'prompts'));
  }
  const config = loadAppConfig(
    {
      SERVICES_BROKER: redisUrl,
      HTTP_PORT: '0',
      ROLE: 'api',
      // Tests and benches submit the same text again and count the LLM calls: the result cache
      // would answer them. Its own tests turn it on.
      RESULT_CACHE_TTL: '0',
      ...options.env,
    },
    root,
  );
  const logger = new RecordingLogger();
  const gateway = await createGateway(config, logger);
  const http = gateway.http;
  await http.listen(0, '127.0.0.1');
  const { port } = http.getHttpServer().address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    redisUrl,
    root,
    config,
    logger,
    get: (type) => http.get(type),
    manifestsIdle: () => http.get(ManifestsRepository).whenIdle(),
    async close() {
      await http.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A URL to one of databases 1–15 of the test Redis, emptied, so that queued jobs of one test
 * never reach the workers of another. Database 0 holds the allocation counter.
 */
export async function isolatedRedisUrl(): Promise<string> {
  const base = requiredTestRedisUrl();
  const counter = new Redis(base);
  try {
    const database = ((await counter.incr('test:next-database')) % 15) + 1;
    await counter.select(database);
    await counter.flushdb();
    return `${base}/${database}`;
  } finally {
    counter.disconnect();
  }
}

export function requiredTestRedisUrl(): string {
  const url = process.env.TEST_REDIS_URL;
  if (!url) throw new Error('TEST_REDIS_URL is not set: run the tests through jest (global setup)');
  return url;
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the elapsed time. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const startedAt = performance.now();
  while (performance.now() - startedAt < timeoutMs) {
    if (await check()) return performance.now() - startedAt;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
