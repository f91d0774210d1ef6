import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { JobStatusBody } from '../jobs/job-status.util';
import { JobsService } from '../jobs/jobs.service';
import { RedisClient } from '../redis/redis.client';
import { type JobEvent, JobEventsRepository } from './job-events.repository';
import { type JobMessage, nextMessage, type SentState, unsentLines } from './job-update.util';

/** One subscriber's interest in one job, from `JobWatchService.watch`. */
export interface JobWatch {
  readonly jobId: string;
  /** The job's state when the watch began: send it first. */
  readonly initial: JobMessage;
  /** Starts delivering changes; changes that happened since `initial` was read come first. */
  start(): void;
  /** Stops delivering; idempotent. */
  stop(): void;
}

interface Subscriber {
  readonly jobId: string;
  readonly withPartial: boolean;
  readonly deliver: (message: JobMessage) => void;
  sent: SentState;
  /** Steps (one per event) run one after the other, in the order the events arrived. */
  chain: Promise<void>;
  isStopped: boolean;
  retryTimer: NodeJS.Timeout | undefined;
}

/** A failed read (Redis away) is tried again after this long, until it succeeds or the watch stops. */
const RETRY_DELAY_MS = 1_000;

/**
 * Fans the queue's events out to the subscribers of this API process. Push, not poll: Redis is
 * read once when a watch begins and after events that do not carry the new state themselves.
 *
 * No gap: a subscriber is registered before its first read, and the events that arrive during
 * that read wait behind it. No state going backwards: each subscriber keeps what it was sent
 * (see `nextMessage`). One read of a job serves every subscriber that needs it after the same
 * event.
 */
@Injectable()
export class JobWatchService implements OnModuleDestroy {
  private readonly logger = new Logger(JobWatchService.name);
  private readonly subscribersByJob = new Map<string, Set<Subscriber>>();
  /** Events received so far: a read started after event n reflects every change up to n. */
  private eventCount = 0;
  private readonly statusReads = new Map<string, { afterEvent: number; body: Promise<JobStatusBody> }>();

  constructor(
    private readonly events: JobEventsRepository,
    private readonly jobs: JobsService,
    redis: RedisClient,
  ) {
    events.onEvent((event) => this.dispatch(event));
    // Back from a Redis outage: read every followed job again, in case an event was lost with it.
    redis.onReady(() => this.refreshAll());
  }

  /**
   * Reads the job's state and subscribes to its changes. Rejects (with the reading error, e.g.
   * Redis unavailable) without leaving a subscription behind.
   */
  async watch(
    jobId: string,
    withPartial: boolean,
    deliver: (message: JobMessage) => void,
  ): Promise<JobWatch> {
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const subscriber: Subscriber = {
      jobId,
      withPartial,
      deliver,
      sent: { lastBody: undefined, partialLineCount: 0 },
      chain: gate,
      isStopped: false,
      retryTimer: undefined,
    };
    this.add(subscriber);
    const stop = () => {
      if (!subscriber.isStopped) this.events.unfollow();
      this.remove(subscriber);
      openGate();
    };
    try {
      // The stream is read from before the state is: no change after that read is missed.
      await this.events.follow();
      const body = await this.readStatus(jobId, this.eventCount);
      const lines =
        withPartial && body.status === 'processing' ? await this.jobs.partialSummary(jobId, 0) : [];
      const { message, sent } = nextMessage(subscriber.sent, body, lines, withPartial);
      subscriber.sent = sent;
      return { jobId, initial: message ?? body, start: openGate, stop };
    } catch (error) {
      stop();
      throw error;
    }
  }

  /** Jobs followed and subscriptions held by this process (what the leak tests count). */
  stats(): { jobs: number; subscribers: number } {
    let subscribers = 0;
    for (const set of this.subscribersByJob.values()) subscribers += set.size;
    return { jobs: this.subscribersByJob.size, subscribers };
  }

  onModuleDestroy(): void {
    for (const set of [...this.subscribersByJob.values()])
      set.forEach((subscriber) => this.remove(subscriber));
  }

  private refreshAll(): void {
    for (const set of this.subscribersByJob.values()) {
      set.forEach((subscriber) => this.enqueueRead(subscriber, this.eventCount));
    }
  }

  private dispatch(event: JobEvent): void {
    this.eventCount += 1;
    const subscribers = this.subscribersByJob.get(event.jobId);
    if (!subscribers) return;
    if (event.kind === 'progress') {
      const announced = this.jobs.statusOfProgress(event.data);
      if (!announced) return;
      for (const subscriber of subscribers) {
        this.enqueue(subscriber, async () => {
          let lines: string[] = [];
          if (subscriber.withPartial) {
            const unsent = unsentLines(subscriber.sent.partialLineCount, announced);
            lines =
              unsent.kind === 'lines'
                ? unsent.lines
                : await this.jobs.partialSummary(subscriber.jobId, subscriber.sent.partialLineCount);
          }
          this.apply(subscriber, announced.body, lines);
        });
      }
      return;
    }
    const eventNumber = this.eventCount;
    for (const subscriber of subscribers) this.enqueueRead(subscriber, eventNumber);
  }

  private enqueueRead(subscriber: Subscriber, afterEvent: number): void {
    this.enqueue(subscriber, async () => {
      const body = await this.readStatus(subscriber.jobId, afterEvent);
      const lines =
        subscriber.withPartial && body.status === 'processing'
          ? await this.jobs.partialSummary(subscriber.jobId, subscriber.sent.partialLineCount)
          : [];
      this.apply(subscriber, body, lines);
    });
  }

  private enqueue(subscriber: Subscriber, step: () => Promise<void>): void {
    subscriber.chain = subscriber.chain
      .then(() => (subscriber.isStopped ? undefined : step()))
      .catch((error: unknown) => {
        if (subscriber.isStopped) return;
        // Most likely Redis is away: read the job again later rather than miss its change.
        this.logger.debug(`Job ${subscriber.jobId}: update not delivered yet (${String(error)})`);
        clearTimeout(subscriber.retryTimer);
        subscriber.retryTimer = setTimeout(
          () => this.enqueueRead(subscriber, this.eventCount),
          RETRY_DELAY_MS,
        );
        subscriber.retryTimer.unref(); // a retry never keeps a stopping process alive
      });
  }

  private apply(subscriber: Subscriber, body: JobStatusBody, newPartialLines: readonly string[]): void {
    if (subscriber.isStopped) return;
    const { message, sent } = nextMessage(subscriber.sent, body, newPartialLines, subscriber.withPartial);
    subscriber.sent = sent;
    if (message) subscriber.deliver(message);
  }

  /** The job's state as read after event `afterEvent`; concurrent needs share one read. */
  private readStatus(jobId: string, afterEvent: number): Promise<JobStatusBody> {
    const current = this.statusReads.get(jobId);
    if (current && current.afterEvent >= afterEvent) return current.body;
    const read = { afterEvent: this.eventCount, body: this.jobs.status(jobId) };
    this.statusReads.set(jobId, read);
    const forget = () => {
      if (this.statusReads.get(jobId) === read) this.statusReads.delete(jobId);
    };
    read.body.then(forget, forget);
    return read.body;
  }

  private add(subscriber: Subscriber): void {
    const set = this.subscribersByJob.get(subscriber.jobId) ?? new Set<Subscriber>();
    set.add(subscriber);
    this.subscribersByJob.set(subscriber.jobId, set);
  }

  private remove(subscriber: Subscriber): void {
    subscriber.isStopped = true;
    clearTimeout(subscriber.retryTimer);
    const set = this.subscribersByJob.get(subscriber.jobId);
    if (!set) return;
    set.delete(subscriber);
    if (set.size === 0) this.subscribersByJob.delete(subscriber.jobId);
  }
}
