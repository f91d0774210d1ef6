import { randomUUID } from 'node:crypto';
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Job, type JobsOptions, Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RedisClient } from '../redis/redis.client';
import { SUMMARIZATION_QUEUE, type SummarizationJobData } from './job-payload';
import { type AdmissionState, JobStateRepository, type NewJobText } from './job-state.repository';
import type { JobSnapshot } from './job-status.util';
import { isQueueUnavailable, JobsError } from './jobs.error';

/** A Redis command that has not answered by then means Redis is unavailable (docs/api.md section 4: a 503 within 2 s). */
const REDIS_DEADLINE_MS = 1_500;
/** Time left, after a replica did not acknowledge a job, to take it back before answering. */
const REPLICA_REFUSAL_MS = 300;
/** How long an Idempotency-Key is held for a request still being decided (then RESULT_TTL once accepted). */
const IDEMPOTENCY_RESERVATION_SECONDS = 10;

interface PendingAcceptance {
  job: NewJobText;
  resolve(state: AdmissionState): void;
  reject(error: unknown): void;
}

type RedisClientOfQueue = Awaited<Queue['client']>;

const unavailable = () => new JobsError('Redis is unavailable', 'QUEUE_UNAVAILABLE');

/**
 * The API side of the BullMQ queue: enqueue, read, cancel, delete. The queue runs on the API
 * process's one fail-fast connection (JobsModule), so a Redis outage is a 503, never a hang.
 */
@Injectable()
export class JobsRepository {
  private readonly logger = new Logger(JobsRepository.name);
  /** The acceptances asked for in this turn of the event loop, sent together at its end. */
  private acceptancesOfTurn: PendingAcceptance[] | undefined;
  /** The options of every job this API adds, but its id: built once, not per submission. */
  private readonly jobOptions: JobsOptions;
  /** The queue's connection once it is made (BullMQ hands it out through a new promise each time). */
  private queueClient: RedisClientOfQueue | undefined;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @InjectQueue(SUMMARIZATION_QUEUE) private readonly queue: Queue<SummarizationJobData, string>,
    private readonly state: JobStateRepository,
    private readonly redis: RedisClient,
  ) {
    this.queue.on('error', () => undefined); // RedisClient reports outages once
    const ttlSeconds = config.resultTtlSeconds;
    this.jobOptions = {
      ...queue.defaultJobOptions,
      attempts: 1,
      removeOnComplete: { age: ttlSeconds },
      removeOnFail: { age: ttlSeconds },
    };
  }

  /**
   * Stores the job; resolves with its id once it is accepted (docs/architecture.md, "The write
   * path"): added with its text and decided `accepted` in one round trip when the master has no
   * replica; with one, added, on a replica, then decided `accepted` (that decision on the replica
   * too); all within REDIS_DEADLINE_MS. Otherwise throws QUEUE_UNAVAILABLE (a 503) and takes the job back: it is
   * decided `refused` (and removed) when Redis answers again, so it never runs. Job ids are
   * random UUIDs: they are the only key to a result. With `idempotencyScopedKey`, a key whose
   * job was accepted gives that job again (within RESULT_TTL).
   */
  async enqueue(data: SummarizationJobData, idempotencyScopedKey?: string): Promise<string> {
    const deadlineAt = Date.now() + REDIS_DEADLINE_MS;
    let jobId: string = randomUUID();
    let isInFlightElsewhere = false;
    try {
      if (idempotencyScopedKey !== undefined) {
        const reserved = await this.before(
          deadlineAt,
          this.state.reserveIdempotencyKey(idempotencyScopedKey, jobId, IDEMPOTENCY_RESERVATION_SECONDS),
        );
        if (reserved === 'in-flight') {
          isInFlightElsewhere = true;
          throw new JobsError(
            'A request with this Idempotency-Key is in progress; retry later',
            'QUEUE_UNAVAILABLE',
          );
        }
        if (!reserved.isNew) return reserved.jobId;
        jobId = reserved.jobId;
      }
      const hasReplicas =
        this.redis.cachedHasReplicas() ?? (await this.before(deadlineAt, this.redis.hasReplicas()));
      if (!hasReplicas) {
        // No replica to wait for: text, job and acceptance in one round trip.
        const admission = await this.before(deadlineAt, this.store(jobId, data, { idempotencyScopedKey }));
        if (admission !== 'accepted' && admission !== 'running') throw unavailable();
        return jobId;
      }
      // Text and job in one round trip: a worker reads the text only once the job is accepted,
      // which is decided after both are stored.
      await this.before(deadlineAt, this.store(jobId, data));
      // On a replica before it is accepted: a worker never starts a job that a failover could lose,
      // and a replica that does not acknowledge in time makes the request a 503 that never runs.
      const isJobOnReplica = await this.before(
        deadlineAt + REPLICA_REFUSAL_MS,
        this.redis.waitForReplica(deadlineAt - Date.now()),
      );
      if (!isJobOnReplica) throw unavailable();
      const [admission] = await this.before(
        deadlineAt,
        Promise.all([
          this.state.decideAdmission(jobId, 'accepted'),
          idempotencyScopedKey === undefined
            ? undefined
            : this.state.keepIdempotencyKey(idempotencyScopedKey, jobId),
        ]),
      );
      if (admission !== 'accepted' && admission !== 'running') throw unavailable();
      const isDurable = await this.before(
        deadlineAt + REPLICA_REFUSAL_MS,
        this.redis.waitForReplica(deadlineAt - Date.now()),
      );
      if (!isDurable) {
        // The decision is not on a replica in time: a failover could lose it. Take the job back
        // unless a worker already runs it.
        const after = await this.before(
          deadlineAt + REPLICA_REFUSAL_MS,
          this.state.decideAdmission(jobId, 'refused'),
        );
        if (after !== 'running') {
          this.removeRefused(jobId);
          throw unavailable();
        }
        this.logger.warn(`Job ${jobId} accepted before a replica held it: a worker had already taken it`);
      }
      return jobId;
    } catch (error) {
      // A reservation sent to a frozen Redis points at this job: refusing it frees the key.
      if (isQueueUnavailable(error) && !isInFlightElsewhere) this.refuse(jobId);
      throw error;
    }
  }

  /**
   * Sends the job (BullMQ's add) and its text, with `acceptance` its text and acceptance
   * (`storeTextsAndAccept`, whose answer it returns), in one write, so in one round trip: each is
   * sent when called, on the one connection they share (BullMQ's add is one Lua script), so Redis
   * runs them in that order; the connection holds them until the event loop's next turn
   * (`holdWritesUntilNextTurn`), with the commands of the other requests handled meanwhile. The
   * texts and acceptances of every job added in the turn leave last, as one script.
   */
  private async store(
    jobId: string,
    data: SummarizationJobData,
    acceptance?: { idempotencyScopedKey: string | undefined },
  ): Promise<AdmissionState | undefined> {
    const client = this.queueClient ?? (this.queueClient = await this.queue.client);
    const job = new Job<SummarizationJobData, string>(
      this.queue,
      'summarize',
      { ...data, text: '', isTextStoredApart: true, isAdmissionRequired: true },
      { ...this.jobOptions, jobId },
      jobId,
    );
    this.redis.holdWritesUntilNextTurn();
    // The add first: it checks the job's options and may throw before anything is sent.
    const added = job.addJob(client);
    const stored = acceptance
      ? this.acceptAtEndOfTurn({
          jobKey: this.queue.toKey(jobId),
          jobId,
          text: data.text,
          idempotencyScopedKey: acceptance.idempotencyScopedKey,
        })
      : this.state.saveText(jobId, data.text).then(() => undefined);
    const [, admission] = await Promise.all([added, stored]);
    return admission;
  }

  /**
   * The job's text and acceptance, sent with those of the other jobs added in this turn of the
   * event loop (a busy API process adds several per turn) as one script, after their adds.
   */
  private acceptAtEndOfTurn(job: NewJobText): Promise<AdmissionState> {
    return new Promise<AdmissionState>((resolve, reject) => {
      if (this.acceptancesOfTurn === undefined) {
        const acceptances: PendingAcceptance[] = [];
        this.acceptancesOfTurn = acceptances;
        this.redis.holdWritesUntilNextTurn(() => {
          this.acceptancesOfTurn = undefined;
          this.state.storeTextsAndAccept(acceptances.map((pending) => pending.job)).then(
            (states) =>
              acceptances.forEach((pending, index) => pending.resolve(states[index] ?? 'undecided')),
            (error: unknown) => acceptances.forEach((pending) => pending.reject(error)),
          );
        });
      }
      this.acceptancesOfTurn.push({ job, resolve, reject });
    });
  }

  /**
   * Takes back a job whose request is answered 503. Sent on the same connection as its writes,
   * so Redis executes it after them, even if it was frozen meanwhile. Never awaited: the answer
   * must not wait for a Redis that does not answer. Should it never arrive (connection lost),
   * the worker refuses the undecided job after its grace period.
   */
  private refuse(jobId: string): void {
    this.state.decideAdmission(jobId, 'refused').then(
      (state) => {
        if (state === 'refused') this.removeRefused(jobId);
        else this.logger.warn(`Job ${jobId} was answered 503 but is ${state}`);
      },
      () => undefined,
    );
  }

  private removeRefused(jobId: string): void {
    // A worker holding the job (waiting for its admission) has it locked: that worker drops it.
    this.state.deleteText(jobId).catch(() => undefined);
    this.queue.remove(jobId).then(
      () => this.state.forgetRun(jobId),
      () => undefined,
    );
  }

  async snapshot(jobId: string): Promise<JobSnapshot> {
    // The state, the job and its usage read at once: one round trip, where three in a row held a
    // socket's `complete` ~1 ms more. The job may be read before the state, and could finish in
    // between: a job that does not show the state it is in yet (reported complete without its
    // result) is read again, after the state, and so is a usage that was not there yet.
    const readJob = () => Job.fromId<SummarizationJobData, string>(this.queue, jobId);
    const [state, jobRead, usageRead] = await this.withDeadline(
      Promise.all([this.queue.getJobState(jobId), readJob(), this.state.readUsage(jobId)]),
    );
    const job =
      state === 'unknown'
        ? undefined
        : jobRead && showsState(jobRead, state)
          ? jobRead
          : await this.withDeadline(readJob());
    if (!job) {
      const isCancelled = await this.withDeadline(this.state.isCancelled(jobId));
      return { state: 'missing', isCancelled };
    }
    switch (state) {
      case 'completed': {
        // Written before the job completes: read again only when it was read before that.
        const usage = usageRead ?? (await this.withDeadline(this.state.readUsage(jobId)));
        return {
          state: 'completed',
          result: typeof job.returnvalue === 'string' ? job.returnvalue : '',
          finishedOn: job.finishedOn,
          ...(usage ? { usage } : {}),
        };
      }
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
      await this.withDeadline(this.state.forgetFinished(jobId));
      return 'deleted';
    }
    await this.withDeadline(this.state.markCancelled(jobId));
    // Its input is deleted at once (a running job's worker stops at its next batch boundary and
    // writes no checkpoint or partial line after the flag); its cancelled state stays reported.
    await this.withDeadline(
      Promise.all([
        job.updateData({ ...job.data, text: '' }),
        this.state.deleteText(jobId),
        this.state.forgetRun(jobId),
      ]),
    );
    if (state !== 'active') {
      // A job a worker takes between getState and remove is locked: remove throws, and the flag stops it.
      await job.remove().catch(() => undefined);
    }
    return 'cancelled';
  }

  /** Runs a queue operation with a deadline of REDIS_DEADLINE_MS. */
  private withDeadline<T>(operation: Promise<T>): Promise<T> {
    return this.before(Date.now() + REDIS_DEADLINE_MS, operation);
  }

  /**
   * Runs a queue operation that must answer before `deadlineAt`. A missed deadline, or a failure
   * while the connection is down, means Redis is unavailable (a 503); any other failure is a bug
   * and stays one.
   */
  private before<T>(deadlineAt: number, operation: Promise<T>): Promise<T> {
    // One promise and one timer: this runs on every submission (Promise.race and an async frame cost more).
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(unavailable()), Math.max(0, deadlineAt - Date.now()));
      operation.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(this.asQueueFailure(error));
        },
      );
    });
  }

  /** What a failed queue operation throws: Redis unavailable (a 503), or the failure itself (a bug). */
  private asQueueFailure(error: unknown): Error {
    if (error instanceof JobsError) return error;
    if (!this.redis.isReady || isConnectionFailure(error)) return unavailable();
    return error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * A failure of the connection, or of a master being replaced (a failover), rather than of the
 * command: the connection may still read as ready when it is reported.
 */
function isConnectionFailure(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return /^(READONLY|LOADING|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b|Connection is closed|Stream isn't writeable|ECONNRESET|EPIPE|ECONNREFUSED/.test(
    message,
  );
}

/** Whether `job`, read at about the time its state was, already shows it: a finished job its end. */
function showsState(job: Job, state: string): boolean {
  return state === 'completed' || state === 'failed' ? job.finishedOn !== undefined : true;
}
