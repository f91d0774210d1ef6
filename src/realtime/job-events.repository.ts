import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { QueueEvents } from 'bullmq';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { SUMMARIZATION_QUEUE } from '../jobs/job-payload';
import { JobsService } from '../jobs/jobs.service';
import {
  createRedisConnection,
  RedisClient,
  REDIS_CLOSE_TIMEOUT_MS,
  settlesWithin,
} from '../redis/redis.client';

/** A change of one job, as announced on the queue's event stream. */
export type JobEvent =
  | { jobId: string; kind: 'progress'; data: unknown }
  /** Anything else (taken, requeued, finished, removed): the job's state must be read again. */
  | { jobId: string; kind: 'changed' };

/** The events after which a job's state is read again; `progress` events carry the state itself. */
const STATE_CHANGING_EVENTS = [
  'active',
  'waiting',
  'delayed',
  'stalled',
  'completed',
  'failed',
  'removed',
] as const;

/**
 * The queue's event stream, read by this API process with one BullMQ `QueueEvents` (one blocking
 * Redis connection, whatever the number of sockets). It starts at the stream's last entry when
 * Redis first answers, not at "now", so nothing written while it connects is missed; after a
 * Redis outage it continues from the last entry it read.
 */
@Injectable()
export class JobEventsRepository implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(JobEventsRepository.name);
  private queueEvents: QueueEvents | undefined;
  /** Never connected itself: QueueEvents duplicates it for its blocking reads. */
  private readonly connectionTemplate: Redis;
  private listener: (event: JobEvent) => void = () => undefined;
  private isReportingOutage = false;
  private isStarting = false;
  private isClosing = false;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly redis: RedisClient,
    private readonly jobs: JobsService,
  ) {
    this.connectionTemplate = createRedisConnection(config, 'realtime', 'patient', { lazyConnect: true });
  }

  /** The one consumer of the events (the fan-out to sockets). */
  onEvent(listener: (event: JobEvent) => void): void {
    this.listener = listener;
  }

  onModuleInit(): void {
    // Started once Redis answers: BullMQ cannot recover a QueueEvents whose first connection failed.
    this.redis.onReady(() => {
      this.isReportingOutage = false;
      this.start().catch((error: unknown) => {
        this.logger.warn(`Job events not started yet (${String(error)}); retrying when Redis is back`);
      });
    });
  }

  private async start(): Promise<void> {
    if (this.queueEvents || this.isStarting || this.isClosing) return;
    this.isStarting = true;
    try {
      const lastEventId = await this.lastEventId();
      // Shut down while reading it: a QueueEvents created now would never be closed.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by onModuleDestroy meanwhile
      if (this.isClosing) return;
      const queueEvents = new QueueEvents(SUMMARIZATION_QUEUE, {
        connection: this.connectionTemplate,
        lastEventId,
        autorun: false,
      });
      queueEvents.on('progress', ({ jobId, data }) => this.listener({ jobId, kind: 'progress', data }));
      for (const name of STATE_CHANGING_EVENTS) {
        queueEvents.on(name, ({ jobId }: { jobId: string }) => this.listener({ jobId, kind: 'changed' }));
      }
      queueEvents.on('error', (error) => {
        if (this.isReportingOutage) return;
        this.isReportingOutage = true;
        this.logger.warn(`Job events unavailable (${error.message}); retrying in the background`);
      });
      this.queueEvents = queueEvents;
      // Resolves when closed; rejects only when its first connection failed (Redis left again).
      queueEvents.run().catch(async (error: unknown) => {
        if (this.isClosing) return;
        this.logger.warn(`Job events stopped (${String(error)}); restarting when Redis is back`);
        this.queueEvents = undefined;
        await settlesWithin(queueEvents.close(), REDIS_CLOSE_TIMEOUT_MS);
        // Redis may have left again meanwhile: then the next `ready` starts it.
        if (this.redis.isReady) await this.start().catch(() => undefined);
      });
    } finally {
      this.isStarting = false;
    }
  }

  /** Never waits on Redis for long: a frozen or partitioned Redis never answers a polite close. */
  async onModuleDestroy(): Promise<void> {
    this.isClosing = true;
    const queueEvents = this.queueEvents;
    if (queueEvents) {
      // Closed while its connection is still starting, a QueueEvents makes BullMQ emit an error
      // nobody listens to any more (an uncaught exception): let it finish starting, bounded.
      if (this.redis.isReady) await settlesWithin(queueEvents.waitUntilReady(), REDIS_CLOSE_TIMEOUT_MS);
      if (!(await settlesWithin(queueEvents.close(), REDIS_CLOSE_TIMEOUT_MS))) {
        await settlesWithin(queueEvents.disconnect(), REDIS_CLOSE_TIMEOUT_MS);
      }
    }
    this.connectionTemplate.disconnect();
  }

  /** Listeners this repository holds on the event stream (constant: one per event type). */
  listenerCount(): number {
    const queueEvents = this.queueEvents;
    if (!queueEvents) return 0;
    return queueEvents.eventNames().reduce((count, name) => count + queueEvents.listenerCount(name), 0);
  }

  /** The stream's last entry: events from then on are read, none written while connecting is missed. */
  private lastEventId(): Promise<string> {
    return this.jobs.lastEventId();
  }
}
