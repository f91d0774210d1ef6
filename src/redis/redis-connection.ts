import Redis, { type RedisOptions } from 'ioredis';
import type { AppConfig } from '../config/app-config';
import { parseBrokerUrl } from '../config/config-values.util';

/**
 * How a connection behaves while Redis is away: `fail-fast` (the API: commands fail at once, a
 * 503, never a hang) or `patient` (workers, the inference semaphore, the event stream: commands
 * wait through a blip, as BullMQ requires of workers).
 */
export type RedisConnectionKind = 'fail-fast' | 'patient';

/**
 * The one place a Redis connection is made. `SERVICES_BROKER` names one server
 * (`redis://`, `rediss://`) or the Sentinels of a replicated set
 * (`redis+sentinel://host:port[,host:port...]/<master name>[/<db>]`): ioredis then asks the
 * Sentinels for the current master, and again after a failover. `BROKER_PASS` is the password of
 * the Redis servers and of the Sentinels alike.
 */
export function createRedisConnection(
  config: AppConfig,
  purpose: string,
  kind: RedisConnectionKind,
  extraOptions: RedisOptions = {},
): Redis {
  const options = {
    ...(kind === 'fail-fast' ? redisOptions(config, purpose) : patientRedisOptions(config, purpose)),
    ...extraOptions,
  };
  const address = parseBrokerUrl(config.redis.url);
  if ('reason' in address) throw new Error(`SERVICES_BROKER ${address.reason}`); // refused at start-up already
  if (address.kind === 'redis') return new Redis(address.url, options);
  const password = config.redis.password ?? address.password;
  return new Redis({
    ...options,
    sentinels: address.sentinels,
    name: address.masterName,
    db: address.db,
    password,
    sentinelPassword: password,
    // A failover is over within seconds: ask the Sentinels again quickly, never give up.
    sentinelRetryStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 1_000),
    // A connection still open to a demoted master is told READONLY: reconnect to the new one.
    reconnectOnError: (error: Error) => (error.message.startsWith('READONLY') ? 2 : false),
  });
}

/**
 * Worker-side connections (the BullMQ worker, the inference semaphore): commands wait through a
 * Redis blip instead of failing, which BullMQ requires of workers.
 */
export function patientRedisOptions(config: AppConfig, purpose: string): RedisOptions {
  return {
    password: config.redis.password,
    connectionName: `${config.serviceName}:${purpose}`,
    maxRetriesPerRequest: null,
  };
}

/** Options of the API side's connection: fail fast while Redis is down (a 503, never a hang). */
export function redisOptions(config: AppConfig, purpose: string): RedisOptions {
  return {
    password: config.redis.password,
    connectionName: `${config.serviceName}:${purpose}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2_000),
  };
}

/** How long a connection may take to say goodbye before it is cut (a frozen Redis never answers). */
export const REDIS_CLOSE_TIMEOUT_MS = 2_000;

/**
 * Closes a connection politely (`QUIT`, pending replies first) when Redis answers in time, else
 * cuts it: a Redis that is frozen or partitioned never answers QUIT, and a process stopping must
 * not wait for it.
 */
export async function closeRedisConnection(
  connection: Redis,
  timeoutMs: number = REDIS_CLOSE_TIMEOUT_MS,
): Promise<void> {
  if (connection.status === 'ready') {
    await settlesWithin(
      connection.quit().catch(() => undefined),
      timeoutMs,
    );
  }
  connection.disconnect();
}

/** Waits for `work` at most `timeoutMs`; true when it settled in time. Never rejects. */
export async function settlesWithin(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const isInTime = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
  ]);
  clearTimeout(timer);
  return isInTime;
}
