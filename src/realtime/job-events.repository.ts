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

/** How long the stream is still read after the last watch ended (a page reloading, the next job). */
export const EVENTS_IDLE_STOP_MS = 60_000;

/**
 * The queue's event stream, read by this API process with one BullMQ `QueueEvents` (one blocking
 * Redis connection, whatever the number of sockets), while some socket follows a job: an API
 * process nobody follows reads nothing (every job's add writes events, and reading them would
 * cost each submission). `follow()` starts the reader at the stream's last entry, read then,
 * and resolves once that position is fixed: nothing written after it is missed, so a job's state
 * read after `follow()` resolves misses no change. After a Redis outage it continues from the
 * last entry it read. `unfollow()` stops it EVENTS_IDLE_STOP_MS after the last watch ended.
 */
@Injectable()
export class JobEventsRepository implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(JobEventsRepository.name);
  private queueEvents: QueueEvents | undefined;
  /** Never connected itself: QueueEvents duplicates it for its blocking reads. */
  private readonly connectionTemplate: Redis;
  private listener: (event: JobEvent) => void = () => undefined;
  private isReportingOutage = false;
  /** The start under way, shared by the watches that wait for it. */
  private starting: Promise<void> | undefined;
  private isClosing = false;
  private followers = 0;
  private idleStopTimer: NodeJS.Timeout | undefined;
  /** EVENTS_IDLE_STOP_MS; tests shorten it. */
  idleStopMs = EVENTS_IDLE_STOP_MS;

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
    // Restarted once Redis answers again: BullMQ cannot recover a QueueEvents whose first
    // connection failed.
    this.redis.onReady(() => {
      this.isReportingOutage = false;
      this.restartIfFollowed();
    });
  }

  /**
   * A watch begins: the stream is read from now on (see the class). Rejects when the reader
   * cannot start (Redis unavailable); the caller's `unfollow()` is due either way.
   */
  async follow(): Promise<void> {
    this.followers += 1;
    clearTimeout(this.idleStopTimer);
    this.idleStopTimer = undefined;
    if (this.queueEvents || this.isClosing) return;
    this.starting ??= this.start().finally(() => (this.starting = undefined));
    await this.starting;
  }

  /** A watch ended: the reader stops EVENTS_IDLE_STOP_MS after the last one. */
  unfollow(): void {
    this.followers = Math.max(0, this.followers - 1);
    if (this.followers > 0 || this.idleStopTimer !== undefined) return;
    this.idleStopTimer = setTimeout(() => {
      this.idleStopTimer = undefined;
      if (this.followers === 0) this.stopReading().catch(() => undefined);
    }, this.idleStopMs);
    this.idleStopTimer.unref(); // never keeps a stopping process alive
  }

  /** Whether the stream is being read (what the tests check). */
  get isReading(): boolean {
    return this.queueEvents !== undefined;
  }

  private async start(): Promise<void> {
    try {
      const lastEventId = await this.lastEventId();
      // Shut down while reading it: a QueueEvents created now would never be closed.
      if (this.isClosing || this.queueEvents) return;
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
        if (this.isClosing || this.queueEvents !== queueEvents) return;
        this.logger.warn(`Job events stopped (${String(error)}); restarting when Redis is back`);
        this.queueEvents = undefined;
        await settlesWithin(queueEvents.close(), REDIS_CLOSE_TIMEOUT_MS);
        // Redis may have left again meanwhile: then the next `ready` starts it.
        if (this.redis.isReady) this.restartIfFollowed();
      });
    } catch (error) {
      this.logger.warn(`Job events not started yet (${String(error)}); retrying when Redis is back`);
      throw error;
    }
  }

  /** Starts the reader again (after an outage) if a watch still needs it. */
  private restartIfFollowed(): void {
    if (this.followers === 0) return;
    const done = () => this.unfollow(); // follow() counted one more watch: this one is not
    this.follow().then(done, done);
  }

  /** Closes the reader (nobody follows a job any more), bounded as a shutdown is. */
  private async stopReading(): Promise<void> {
    const queueEvents = this.queueEvents;
    if (!queueEvents) return;
    this.queueEvents = undefined;
    await closeQueueEvents(queueEvents, this.redis.isReady);
  }

  /** Never waits on Redis for long: a frozen or partitioned Redis never answers a polite close. */
  async onModuleDestroy(): Promise<void> {
    this.isClosing = true;
    clearTimeout(this.idleStopTimer);
    await this.starting?.catch(() => undefined);
    const queueEvents = this.queueEvents;
    this.queueEvents = undefined;
    if (queueEvents) await closeQueueEvents(queueEvents, this.redis.isReady);
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

/** Closes a QueueEvents, bounded: a frozen or partitioned Redis never answers a polite close. */
async function closeQueueEvents(queueEvents: QueueEvents, isRedisReady: boolean): Promise<void> {
  // Closed while its connection is still starting, a QueueEvents makes BullMQ emit an error
  // nobody listens to any more (an uncaught exception): let it finish starting, bounded.
  if (isRedisReady) await settlesWithin(queueEvents.waitUntilReady(), REDIS_CLOSE_TIMEOUT_MS);
  if (!(await settlesWithin(queueEvents.close(), REDIS_CLOSE_TIMEOUT_MS))) {
    await settlesWithin(queueEvents.disconnect(), REDIS_CLOSE_TIMEOUT_MS);
  }
}
