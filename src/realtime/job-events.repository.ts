import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { QueueEvents } from 'bullmq';
import Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { SUMMARIZATION_QUEUE } from '../jobs/job-payload';
import { patientRedisOptions, RedisClient } from '../redis/redis.client';

/** A change of one job, as announced on the queue's event stream. */
export type JobEvent =
  | { jobId: string; kind: 'progress'; data: unknown }
  /** Anything else (taken, requeued, finished, removed): the job's state must be read again. */
  | { jobId: string; kind: 'changed' };

/** BullMQ's default key prefix: the queue's events are the Redis stream `bull:<queue>:events`. */
const EVENTS_STREAM_KEY = `bull:${SUMMARIZATION_QUEUE}:events`;

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
 * Redis connection, whatever the number of sockets). It starts at the stream's last entry as of
 * start-up, not at "now", so nothing written while it connects is missed; after a Redis outage it
 * continues from the last entry it read.
 */
@Injectable()
export class JobEventsRepository implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(JobEventsRepository.name);
  private queueEvents: QueueEvents | undefined;
  /** Never connected itself: QueueEvents duplicates it for its blocking reads. */
  private readonly connectionTemplate: Redis;
  private listener: (event: JobEvent) => void = () => undefined;
  private isReportingOutage = false;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly redis: RedisClient,
  ) {
    this.connectionTemplate = new Redis(config.redis.url, {
      ...patientRedisOptions(config, 'realtime'),
      lazyConnect: true,
    });
  }

  /** The one consumer of the events (the fan-out to sockets). */
  onEvent(listener: (event: JobEvent) => void): void {
    this.listener = listener;
  }

  async onModuleInit(): Promise<void> {
    const queueEvents = new QueueEvents(SUMMARIZATION_QUEUE, {
      connection: this.connectionTemplate,
      lastEventId: await this.lastEventId(),
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
    this.redis.onReady(() => {
      this.isReportingOutage = false;
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.queueEvents?.close();
    this.connectionTemplate.disconnect();
  }

  /** Listeners this repository holds on the event stream (constant: one per event type). */
  listenerCount(): number {
    const queueEvents = this.queueEvents;
    if (!queueEvents) return 0;
    return queueEvents.eventNames().reduce((count, name) => count + queueEvents.listenerCount(name), 0);
  }

  private async lastEventId(): Promise<string> {
    try {
      const [last] = await this.redis.connection.xrevrange(EVENTS_STREAM_KEY, '+', '-', 'COUNT', 1);
      return last?.[0] ?? '0-0';
    } catch (error) {
      // Redis is down at start-up: nothing can change until it is back; start from then.
      this.logger.warn(
        `Could not read the job event stream (${(error as Error).message}); following new events`,
      );
      return '$';
    }
  }
}
