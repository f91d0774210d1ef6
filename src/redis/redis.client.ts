import type { Socket } from 'node:net';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { closeRedisConnection, createRedisConnection } from './redis-connection';

export {
  closeRedisConnection,
  createRedisConnection,
  patientRedisOptions,
  REDIS_CLOSE_TIMEOUT_MS,
  redisOptions,
  settlesWithin,
} from './redis-connection';

/** How long the replica count of the master is trusted (a replica joining is seen this late). */
const REPLICA_COUNT_CACHE_MS = 5_000;

/**
 * The API process's Redis connection for small reads and writes (the published services list,
 * readiness). `enableOfflineQueue: false` makes a command fail at once while Redis is down
 * instead of hanging the request; the client reconnects in the background.
 */
@Injectable()
export class RedisClient implements OnModuleDestroy {
  readonly connection: Redis;
  private readonly logger = new Logger(RedisClient.name);
  private isReportingOutage = false;
  private readonly readyListeners = new Set<() => void>();
  private replicaCount = 0;
  private replicasCheckedAt = Number.NEGATIVE_INFINITY;
  private isHoldingWrites = false;
  private readonly lastWritesOfTurn: (() => void)[] = [];

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.connection = createRedisConnection(config, 'api', 'fail-fast');
    this.connection.on('error', (error: Error) => {
      // ioredis emits an error on every reconnect attempt: report an outage once.
      if (!this.isReportingOutage) {
        this.isReportingOutage = true;
        this.logger.warn(`Redis unreachable (${error.message}); retrying in the background`);
      }
    });
    this.connection.on('ready', () => {
      if (this.isReportingOutage) this.logger.log('Redis connection restored');
      this.isReportingOutage = false;
      this.replicasCheckedAt = Number.NEGATIVE_INFINITY; // a new master (failover) may have other replicas
      this.readyListeners.forEach((listener) => listener());
    });
  }

  /**
   * Waits until one replica holds every write this connection sent (`WAIT 1`), when the master
   * has replicas (read from `INFO replication`, cached briefly). Resolves true when the writes
   * are on a replica or there is none to wait for; false when `timeoutMs` passed first.
   */
  async waitForReplica(timeoutMs: number): Promise<boolean> {
    if (!(await this.hasReplicas())) return true;
    const acknowledged = await this.connection.wait(1, Math.max(1, Math.floor(timeoutMs)));
    return acknowledged >= 1;
  }

  /** Whether the master has replicas, read from `INFO replication` (cached briefly). */
  async hasReplicas(): Promise<boolean> {
    return this.cachedHasReplicas() ?? (await this.readHasReplicas());
  }

  /** `hasReplicas()` while its cached answer is fresh (no promise, no timer); else undefined. */
  cachedHasReplicas(): boolean | undefined {
    return Date.now() - this.replicasCheckedAt > REPLICA_COUNT_CACHE_MS ? undefined : this.replicaCount > 0;
  }

  private async readHasReplicas(): Promise<boolean> {
    const info = await this.connection.info('replication');
    this.replicaCount = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
    this.replicasCheckedAt = Date.now();
    return this.replicaCount > 0;
  }

  /**
   * Holds the commands this connection sends from now until the event loop's next turn, then
   * sends them in one write: on a busy API process, the commands of every request handled in this
   * turn leave in one packet, and Redis answers them in one. A packet costs far more than the
   * bytes in it (system calls, and waking the other process, on each side). ioredis writes each
   * command to the socket when it is called, so the order of the commands is kept. (ioredis's
   * auto-pipelining batches per tick too, but builds a pipeline that copies every script BullMQ
   * defines on the connection, per batch.) `lastWrite`, when given, runs just before the held
   * commands leave, its own commands last in the write: what several requests of the turn can
   * send as one command.
   */
  holdWritesUntilNextTurn(lastWrite?: () => void): void {
    if (lastWrite) this.lastWritesOfTurn.push(lastWrite);
    if (this.isHoldingWrites) return;
    this.isHoldingWrites = true;
    const socket = this.connection.stream as Socket | undefined; // none before the first connection
    socket?.cork();
    setImmediate(() => {
      this.isHoldingWrites = false;
      for (const write of this.lastWritesOfTurn.splice(0)) write();
      socket?.uncork();
    });
  }

  get isReady(): boolean {
    return this.connection.status === 'ready';
  }

  /** Runs `listener` at every (re)connection, so state written to Redis survives its restart. */
  onReady(listener: () => void): void {
    this.readyListeners.add(listener);
    if (this.isReady) listener();
  }

  async onModuleDestroy(): Promise<void> {
    this.readyListeners.clear();
    await closeRedisConnection(this.connection);
  }
}
