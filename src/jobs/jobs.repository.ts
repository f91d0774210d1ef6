import { randomUUID } from 'node:crypto';
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import { Job, Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RedisClient } from '../redis/redis.client';
import { SUMMARIZATION_QUEUE, type SummarizationJobData } from './job-payload';
import { JobStateRepository } from './job-state.repository';
import type { JobSnapshot } from './job-status.util';
import { JobsError } from './jobs.error';

/** A Redis command that has not answered by then means Redis is unavailable (docs/api.md section 4: a 503 within 2 s). */
const REDIS_DEADLINE_MS = 1_500;

/**
 * The API side of the BullMQ queue: enqueue, read, cancel, delete. The queue runs on the API
 * process's one fail-fast connection (JobsModule), so a Redis outage is a 503, never a hang.
 */
@Injectable()
export class JobsRepository {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectQueue(SUMMARIZATION_QUEUE) private readonly queue: Queue<SummarizationJobData, string>,
    private readonly state: JobStateRepository,
    private readonly redis: RedisClient,
  ) {
    this.queue.on('error', () => undefined); // RedisClient reports outages once
  }

  /** Stores the job; resolves once Redis holds it. Job ids are random UUIDs: they are the only key to a result. */
  async enqueue(data: SummarizationJobData): Promise<string> {
    const jobId = randomUUID();
    const ttlSeconds = this.config.resultTtlSeconds;
    await this.withDeadline(
      this.queue.add('summarize', data, {
        jobId,
        attempts: 1,
        removeOnComplete: { age: ttlSeconds },
        removeOnFail: { age: ttlSeconds },
      }),
    );
    return jobId;
  }

  async snapshot(jobId: string): Promise<JobSnapshot> {
    // State first, then the job: a job read first could complete in between and be reported
    // complete without its result. Read in this order, the job is at least as new as its state.
    const state = await this.withDeadline(this.queue.getJobState(jobId));
    const job =
      state === 'unknown'
        ? undefined
        : await this.withDeadline(Job.fromId<SummarizationJobData, string>(this.queue, jobId));
    if (!job) {
      const isCancelled = await this.withDeadline(this.state.isCancelled(jobId));
      return { state: 'missing', isCancelled };
    }
    switch (state) {
      case 'completed':
        return {
          state: 'completed',
          result: typeof job.returnvalue === 'string' ? job.returnvalue : '',
          finishedOn: job.finishedOn,
        };
      case 'failed':
        return { state: 'failed', reason: job.failedReason || 'unknown error', finishedOn: job.finishedOn };
      case 'active':
        return { state: 'active', progress: job.progress };
      case 'unknown':
        return { state: 'missing', isCancelled: false };
      case 'waiting':
      case 'delayed':
      case 'prioritized':
      case 'waiting-children':
        return { state: 'waiting' };
    }
  }

  /** The lines of a running job's partial summary from `fromLine` on (empty once it has finished). */
  partialSummary(jobId: string, fromLine: number): Promise<string[]> {
    return this.withDeadline(this.state.partialLines(jobId, fromLine));
  }

  /**
   * The id of the last entry of the queue's event stream (`0-0` when empty): a reader starting
   * there misses nothing written while it connects. The key is BullMQ's (`queue.keys.events`).
   */
  async lastEventId(): Promise<string> {
    const [last] = await this.withDeadline(
      this.redis.connection.xrevrange(this.queue.keys.events ?? '', '+', '-', 'COUNT', 1),
    );
    return last?.[0] ?? '0-0';
  }

  /**
   * Cancels a queued or running job, or deletes a finished one. Returns what happened. A queued
   * job is removed and remembered as cancelled; a running one is flagged, and its worker stops at
   * the next batch boundary.
   */
  async cancelOrDelete(jobId: string): Promise<'cancelled' | 'deleted'> {
    const job = await this.withDeadline(Job.fromId(this.queue, jobId));
    if (!job) throw new JobsError('Unknown task', 'JOB_NOT_FOUND');
    const state = await this.withDeadline(job.getState());
    if (state === 'completed' || state === 'failed') {
      await this.withDeadline(job.remove());
      await this.withDeadline(this.state.forgetRun(jobId));
      return 'deleted';
    }
    await this.withDeadline(this.state.markCancelled(jobId));
    if (state !== 'active') {
      // A job a worker takes between getState and remove is locked: remove throws, and the flag stops it.
      await job.remove().catch(() => undefined);
    }
    return 'cancelled';
  }

  /**
   * Runs a queue operation with a deadline. A missed deadline, or a failure while the connection
   * is down, means Redis is unavailable (a 503); any other failure is a bug and stays one.
   */
  private async withDeadline<T>(operation: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new JobsError('Redis is unavailable', 'QUEUE_UNAVAILABLE')),
        REDIS_DEADLINE_MS,
      );
    });
    try {
      return await Promise.race([operation, deadline]);
    } catch (error) {
      if (error instanceof JobsError || this.redis.isReady) throw error;
      throw new JobsError('Redis is unavailable', 'QUEUE_UNAVAILABLE');
    } finally {
      clearTimeout(timer);
    }
  }
}
