import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { createRedisConnection } from './redis-connection';

export { createRedisConnection, patientRedisOptions, redisOptions } from './redis-connection';

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
      this.readyListeners.forEach((listener) => listener());
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
    if (this.connection.status === 'ready') {
      await this.connection.quit().catch(() => this.connection.disconnect());
    } else {
      this.connection.disconnect();
    }
  }
}
