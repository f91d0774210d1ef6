import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RedisClient } from '../redis/redis.client';
import type { DependencyState } from './readiness.util';

/** Each probe gives up after this long: readiness answers well within 2 s whatever Redis does. */
const PROBE_TIMEOUT_MS = 1_000;
/** The LLM's answer is reused this long: probes every few seconds must not load the LLM server. */
const LLM_CACHE_MS = 5_000;

/**
 * The readiness probes: Redis (a PING on the API's fail-fast connection, bounded: a frozen or
 * partitioned Redis accepts the command and never answers) and the LLM API (`GET <base>/models`,
 * with the key sent as the inference client sends it). Concurrent probes share one attempt.
 */
@Injectable()
export class DependencyProbesClient {
  private redisProbe: Promise<DependencyState> | undefined;
  private llmProbe: Promise<DependencyState> | undefined;
  private llmCheckedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  redisState(): Promise<DependencyState> {
    this.redisProbe ??= this.pingRedis().finally(() => (this.redisProbe = undefined));
    return this.redisProbe;
  }

  llmState(): Promise<DependencyState> {
    if (this.llmProbe && performance.now() - this.llmCheckedAt < LLM_CACHE_MS) return this.llmProbe;
    this.llmCheckedAt = performance.now();
    this.llmProbe = this.listModels();
    return this.llmProbe;
  }

  private async pingRedis(): Promise<DependencyState> {
    const deadline = performance.now() + PROBE_TIMEOUT_MS;
    // Just started or reconnecting: give the connection the probe's time to become ready.
    while (!this.redis.isReady) {
      if (performance.now() >= deadline) return 'down';
      await sleep(25);
    }
    const remainingMs = Math.max(deadline - performance.now(), 1);
    return withTimeout(this.redis.connection.ping(), remainingMs).then(
      () => 'ok' as const,
      () => 'down' as const,
    );
  }

  private async listModels(): Promise<DependencyState> {
    try {
      const response = await fetch(`${this.config.llm.apiBase.replace(/\/+$/, '')}/models`, {
        // As the openai SDK sends it: an empty key gives `Bearer ` (fetch trims it to `Bearer`).
        headers: { Authorization: `Bearer ${this.config.llm.apiKey}`, Accept: 'application/json' },
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      });
      await response.arrayBuffer();
      return response.ok ? 'ok' : 'down';
    } catch {
      return 'down';
    }
  }
}

/** `work`'s value, or a rejection once `timeoutMs` pass (the work itself is left to finish). */
async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
