import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, UnrecoverableError } from 'bullmq';
import type Redis from 'ioredis';
import type { JobUsage, SummarizationJobData } from './job-payload';
import { readJobUsage } from './job-status.util';

/**
 * How long a worker waits for the admission of a job it took before refusing it: longer than an
 * API process takes to accept or refuse (2 s), so it only refuses a job whose API process died.
 */
const ADMISSION_GRACE_MS = 10_000;
const ADMISSION_POLL_MS = 50;
export const REFUSED_REASON = 'refused: its request was not accepted';

/**
 * The one owner of a job's Redis keys beyond BullMQ's own (docs/architecture.md, "One owner per
 * job's state"): its cancel flag, the partial summary a running job has produced, the
 * worker's checkpoint, and the usage of a finished job. Nobody else builds these keys. Each key expires with the job's result
 * (`RESULT_TTL`). The API process uses it on its fail-fast connection, a worker on its patient
 * one: the connection belongs to the caller.
 */
export class JobStateRepository {
  constructor(
    private readonly connection: Redis,
    private readonly ttlSeconds: number,
  ) {}

  /** Set by `DELETE /results/:id` from any API process; the worker holding the job stops. */
  async markCancelled(jobId: string): Promise<void> {
    await this.connection.set(cancelledKey(jobId), '1', 'EX', this.ttlSeconds);
  }

  async isCancelled(jobId: string): Promise<boolean> {
    return (await this.connection.exists(cancelledKey(jobId))) === 1;
  }

  /**
   * The last checkpoint a worker saved for this job, as it saved it (a map checkpoint's answers
   * and batches gathered from their own hash, see saveMapCheckpoint); undefined when none.
   */
  async readCheckpoint(jobId: string): Promise<unknown> {
    const [saved, apart, lines] = await Promise.all([
      this.connection.get(checkpointKey(jobId)),
      this.connection.hgetall(mapAnswersKey(jobId)),
      this.connection.lrange(summaryLinesKey(jobId), 0, -1),
    ]);
    if (saved === null) return undefined;
    const checkpoint = JSON.parse(saved) as { answersApart?: unknown; summaryLineCount?: unknown } | null;
    if (typeof checkpoint?.summaryLineCount === 'number') {
      // Progressive: the list may hold lines a save appended after this one's (none today).
      const { summaryLineCount, ...header } = checkpoint;
      return { ...header, summaryLines: lines.slice(0, summaryLineCount) };
    }
    if (checkpoint?.answersApart !== true) return checkpoint;
    const header: Record<string, unknown> = { ...checkpoint };
    delete header.answersApart;
    const batches = apart.batches === undefined ? undefined : (JSON.parse(apart.batches) as unknown[]);
    const answers: unknown[] = [];
    for (const [field, value] of Object.entries(apart)) {
      if (field !== 'batches') answers[Number(field)] = JSON.parse(value);
    }
    return {
      ...header,
      ...(batches ? { batches } : {}),
      answers: Array.from(
        { length: batches?.length ?? answers.length },
        (_, index) => answers[index] ?? null,
      ),
    };
  }

  /**
   * A progressive checkpoint written as it grows: `header` (next turn, usage, split turns) in the
   * checkpoint key with the summary's line count, and the summary lines from `fromLine` on (those
   * this run has not written yet) put in a list beside it (`llm-gateway:checkpoint-lines:<id>`),
   * cut to `fromLine` lines first. Unless the job was cancelled, as saveCheckpoint.
   */
  async saveProgressiveCheckpoint(
    jobId: string,
    header: object,
    summaryLines: readonly string[],
    fromLine: number,
  ): Promise<void> {
    await this.connection.eval(
      SAVE_PROGRESSIVE_CHECKPOINT_UNLESS_CANCELLED,
      3,
      cancelledKey(jobId),
      checkpointKey(jobId),
      summaryLinesKey(jobId),
      JSON.stringify({ ...header, summaryLineCount: summaryLines.length }),
      this.ttlSeconds,
      fromLine,
      ...summaryLines.slice(fromLine),
    );
  }

  /**
   * A map-mode checkpoint written as it grows: `header` (kind, usage) in the checkpoint key, and
   * in a hash beside it (`llm-gateway:checkpoint-answers:<id>`) the `batches` when given and the
   * answers not written before. Rewriting every answer at every save made a save of a 19 MB job
   * (~20,000 batches, ~14 MB of answers) hold the event loop ~35-60 ms, and send it all to Redis
   * again. Unless the job was cancelled, as saveCheckpoint.
   */
  async saveMapCheckpoint(
    jobId: string,
    header: object,
    batches: readonly unknown[] | undefined,
    newAnswers: readonly (readonly [number, readonly string[]])[],
  ): Promise<void> {
    await this.connection.eval(
      SAVE_MAP_CHECKPOINT_UNLESS_CANCELLED,
      3,
      cancelledKey(jobId),
      checkpointKey(jobId),
      mapAnswersKey(jobId),
      JSON.stringify({ ...header, answersApart: true }),
      this.ttlSeconds,
      ...(batches ? ['batches', JSON.stringify(batches)] : []),
      ...newAnswers.flatMap(([index, lines]) => [String(index), JSON.stringify(lines)]),
    );
  }

  /** Saved unless the job was cancelled: a cancelled job's input and progress are deleted at once. */
  async saveCheckpoint(jobId: string, checkpoint: object): Promise<void> {
    await this.connection.eval(
      SET_UNLESS_CANCELLED,
      2,
      cancelledKey(jobId),
      checkpointKey(jobId),
      JSON.stringify(checkpoint),
      this.ttlSeconds,
    );
  }

  /**
   * Appends lines to the job's partial summary (what `?partial=true` sockets are sent); returns
   * its length after the append.
   */
  async appendPartialLines(jobId: string, lines: readonly string[]): Promise<number> {
    if (lines.length === 0) return this.partialLineCount(jobId);
    const length = await this.connection.eval(
      APPEND_UNLESS_CANCELLED,
      2,
      cancelledKey(jobId),
      partialKey(jobId),
      this.ttlSeconds,
      ...lines,
    );
    return typeof length === 'number' ? length : this.partialLineCount(jobId);
  }

  /** The partial summary's lines from `fromLine` on (empty once the job has finished). */
  partialLines(jobId: string, fromLine: number): Promise<string[]> {
    return this.connection.lrange(partialKey(jobId), fromLine, -1);
  }

  partialLineCount(jobId: string): Promise<number> {
    return this.connection.llen(partialKey(jobId));
  }

  /** A job that starts from scratch: no partial summary left from an earlier attempt. */
  async startFresh(jobId: string): Promise<void> {
    await this.connection.del(partialKey(jobId));
  }

  /** The text of a job queued with `isTextStoredApart`, kept for RESULT_TTL like the job itself. */
  async saveText(jobId: string, text: string): Promise<void> {
    await this.connection.set(textKey(jobId), text, 'EX', this.ttlSeconds);
  }

  /**
   * The job's text as UTF-8 bytes, from its own key (or from the job, for jobs queued before it
   * had one). The bytes are in shared memory, so that a split thread reads them without a copy,
   * and are read TEXT_READ_PIECE_BYTES at a time: a whole 19 MB reply is parsed and copied in one
   * turn of the event loop (~30 ms), and decoding it as a string here would take ~70 ms more.
   */
  async readTextBytes(job: Job<SummarizationJobData, string>): Promise<Uint8Array> {
    if (job.data.isTextStoredApart !== true) return Buffer.from(job.data.text, 'utf8');
    const key = textKey(job.id ?? '');
    // Most texts fit in the first piece: one round trip.
    const first = await this.connection.getrangeBuffer(key, 0, TEXT_READ_PIECE_BYTES - 1);
    if (first.length === 0 && (await this.connection.exists(key)) === 0) throw textGone();
    const byteLength =
      first.length < TEXT_READ_PIECE_BYTES ? first.length : await this.connection.strlen(key);
    if (byteLength < first.length) throw textGone(); // deleted since the first piece
    const bytes = new Uint8Array(new SharedArrayBuffer(byteLength));
    bytes.set(first);
    for (let start = TEXT_READ_PIECE_BYTES; start < byteLength; start += TEXT_READ_PIECE_BYTES) {
      const end = Math.min(start + TEXT_READ_PIECE_BYTES, byteLength);
      const piece = await this.connection.getrangeBuffer(key, start, end - 1);
      // A text is written once: a short piece means it was deleted meanwhile (cancelled, expired).
      if (piece.length !== end - start) throw textGone();
      bytes.set(piece, start);
    }
    return bytes;
  }

  /** A cancelled or refused job's text goes at once (no text of such a request stays in Redis). */
  async deleteText(jobId: string): Promise<void> {
    await this.connection.del(textKey(jobId));
  }

  /** A job that finished (or was deleted): its checkpoint, partial summary and flavor are dropped. */
  async forgetRun(jobId: string): Promise<void> {
    await this.connection.del(...runKeys(jobId));
  }

  /**
   * A job that failed over to another flavor (docs/api.md, "Failover"): the flavor it runs on
   * now, so that a worker resuming it goes on with that flavor, never back to the failed one.
   * With `isStartingOver`, the checkpoint and partial summary of the failed flavor go, in the same
   * step (their plan was another flavor's).
   */
  async switchFlavor(jobId: string, flavorName: string, isStartingOver: boolean): Promise<void> {
    const transaction = this.connection.multi().set(flavorKey(jobId), flavorName, 'EX', this.ttlSeconds);
    if (isStartingOver) {
      transaction.del(checkpointKey(jobId), mapAnswersKey(jobId), summaryLinesKey(jobId), partialKey(jobId));
    }
    await transaction.exec();
  }

  /** The flavor a job failed over to; undefined while it runs on the flavor it was sent with. */
  async readSwitchedFlavor(jobId: string): Promise<string | undefined> {
    return (await this.connection.get(flavorKey(jobId))) ?? undefined;
  }

  /**
   * What the finished job cost (its `complete` body shows it). Written by the worker just before
   * the job completes, so it is there when the job reads as complete; kept RESULT_TTL, as the
   * result, in a key of its own (the job's return value stays the summary string every version
   * reads).
   */
  async saveUsage(jobId: string, usage: JobUsage): Promise<void> {
    await this.connection.set(usageKey(jobId), JSON.stringify(usage), 'EX', this.ttlSeconds);
  }

  /** The usage of a finished job; undefined for a job finished before usage was recorded. */
  async readUsage(jobId: string): Promise<JobUsage | undefined> {
    const saved = await this.connection.get(usageKey(jobId));
    if (saved === null) return undefined;
    try {
      return readJobUsage(JSON.parse(saved));
    } catch {
      return undefined;
    }
  }

  /** A finished job deleted by its client: everything kept about it goes. */
  async forgetFinished(jobId: string): Promise<void> {
    await this.connection.del(...runKeys(jobId), usageKey(jobId), textKey(jobId));
  }

  /**
   * The admission of a job (docs/architecture.md, "The write path"): `accepted` by the API process
   * that answers 200, `refused` by one that answered 503 (or by a worker, for a job nobody decided
   * within the grace period), `running` once a worker took an accepted job. Decided once: a
   * refused job never runs, an accepted one is never refused after a worker took it.
   */
  async decideAdmission(jobId: string, decision: 'accepted' | 'refused'): Promise<AdmissionState> {
    const state = await this.connection.eval(
      DECIDE_ADMISSION,
      1,
      admissionKey(jobId),
      decision,
      this.ttlSeconds,
    );
    return readAdmission(state);
  }

  /**
   * New jobs' texts and acceptances (the `accepted` of `decideAdmission`) in one script, sent
   * after their adds on the same connection, so that Redis runs it after them: a job's text is
   * stored and the job accepted only if the job (`jobKey`, BullMQ's hash) is stored, so a failed
   * add leaves neither an accepted job nor an orphan text behind. A job's `idempotencyScopedKey`
   * is kept as `keepIdempotencyKey` keeps it, in the same step. Answers, in order: `accepted`,
   * what was decided before (the text then left as it was), or `undecided` (no job).
   */
  async storeTextsAndAccept(jobs: readonly NewJobText[]): Promise<AdmissionState[]> {
    const keys: string[] = [];
    const values: (string | number)[] = [this.ttlSeconds];
    for (const job of jobs) {
      const idempotency = job.idempotencyScopedKey;
      // Four keys per job; without an Idempotency-Key its place holds the admission key, unused.
      keys.push(job.jobKey, textKey(job.jobId), admissionKey(job.jobId));
      keys.push(idempotency === undefined ? admissionKey(job.jobId) : idempotencyKey(idempotency));
      values.push(job.jobId, job.text, idempotency === undefined ? 0 : 1);
    }
    const states = (await this.connection.eval(
      STORE_TEXTS_AND_ACCEPT,
      keys.length,
      ...keys,
      ...values,
    )) as unknown[];
    return jobs.map((_, index) => readAdmission(states[index]));
  }

  /**
   * Called by a worker before it runs a job: resolves once the job is accepted (marking it
   * `running`), or throws an UnrecoverableError for a refused job, after deleting its input. A
   * job nobody decided within ADMISSION_GRACE_MS (its API process died) is refused.
   */
  async admit(job: Job<SummarizationJobData, string>): Promise<void> {
    const jobId = job.id ?? '';
    if (job.data.isAdmissionRequired !== true) return;
    const giveUpAt = Date.now() + ADMISSION_GRACE_MS;
    for (;;) {
      const state = await this.claimAdmission(jobId);
      if (state === 'running') return;
      if (state === 'refused') {
        await Promise.all([job.updateData({ ...job.data, text: '' }), this.deleteText(jobId)]);
        throw new UnrecoverableError(REFUSED_REASON);
      }
      if (Date.now() >= giveUpAt) {
        await this.connection.set(admissionKey(jobId), 'refused', 'EX', this.ttlSeconds, 'NX');
      } else {
        await sleep(ADMISSION_POLL_MS);
      }
    }
  }

  /** A worker's claim: `running` (run it), `refused` (drop it), or `undecided` (ask again soon). */
  async claimAdmission(jobId: string): Promise<AdmissionState> {
    return readAdmission(await this.connection.eval(CLAIM_ADMISSION, 1, admissionKey(jobId)));
  }

  /**
   * The job an `Idempotency-Key` names, or `jobId` reserved for it. A key whose job was refused is
   * given the new job; a key whose job is still being decided answers `in-flight`. The reservation
   * lasts `reservationSeconds` until the job is accepted, then `RESULT_TTL` (keepIdempotencyKey).
   */
  async reserveIdempotencyKey(
    scopedKey: string,
    jobId: string,
    reservationSeconds: number,
  ): Promise<{ jobId: string; isNew: boolean } | 'in-flight'> {
    const answer = await this.connection.eval(
      RESERVE_IDEMPOTENCY_KEY,
      1,
      idempotencyKey(scopedKey),
      jobId,
      reservationSeconds,
      ADMISSION_PREFIX,
    );
    if (answer === 'in-flight') return 'in-flight';
    const [reservedJobId, isNew] = Array.isArray(answer) ? (answer as unknown[]) : [];
    return { jobId: String(reservedJobId), isNew: isNew === 1 };
  }

  /** Keeps an accepted job's `Idempotency-Key` for `RESULT_TTL`, as long as the job itself. */
  async keepIdempotencyKey(scopedKey: string, jobId: string): Promise<void> {
    await this.connection.eval(KEEP_IF_EQUAL, 1, idempotencyKey(scopedKey), jobId, this.ttlSeconds);
  }
}

export type AdmissionState = 'accepted' | 'refused' | 'running' | 'undecided';

/** A new job whose text is stored and acceptance decided by `storeTextsAndAccept`. */
export interface NewJobText {
  /** BullMQ's hash of the job (`queue.toKey(jobId)`). */
  jobKey: string;
  jobId: string;
  text: string;
  idempotencyScopedKey?: string;
}

function readAdmission(state: unknown): AdmissionState {
  return state === 'accepted' || state === 'refused' || state === 'running' ? state : 'undecided';
}

/** KEYS: cancelled flag, target. ARGV: value, ttl. */
const SET_UNLESS_CANCELLED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return 1`;

/**
 * Lua: `command` on KEYS[3] with the ARGV from `firstArgument` on, a thousand at a time (Lua's
 * unpack has a limit; an even count keeps a hash's field-value pairs together).
 */
function inChunks(command: 'HSET' | 'RPUSH', firstArgument: number): string {
  return `for first = ${firstArgument}, #ARGV, 1000 do
  redis.call('${command}', KEYS[3], unpack(ARGV, first, math.min(first + 999, #ARGV)))
end`;
}

/**
 * KEYS: cancelled flag, checkpoint, map answers hash. ARGV: checkpoint, ttl, field, value, ...
 */
const SAVE_MAP_CHECKPOINT_UNLESS_CANCELLED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
${inChunks('HSET', 3)}
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1`;

/**
 * KEYS: cancelled flag, checkpoint, summary lines list. ARGV: checkpoint, ttl, index of the first
 * line sent (the list is cut to that many lines first: whatever an earlier run left), lines...
 */
const SAVE_PROGRESSIVE_CHECKPOINT_UNLESS_CANCELLED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
local from = tonumber(ARGV[3])
if from == 0 then redis.call('DEL', KEYS[3]) else redis.call('LTRIM', KEYS[3], 0, from - 1) end
${inChunks('RPUSH', 4)}
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1`;

/** KEYS: cancelled flag, list. ARGV: ttl, lines... Returns the list's length. */
const APPEND_UNLESS_CANCELLED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('LLEN', KEYS[2]) end
local length = redis.call('RPUSH', KEYS[2], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[2], ARGV[1])
return length`;

/**
 * KEYS: admission. ARGV: decision, ttl. \`accepted\` is set only on an undecided job; \`refused\` also
 * replaces \`accepted\` (an API process taking back its own answer), never \`running\`.
 */
const DECIDE_ADMISSION = `
local current = redis.call('GET', KEYS[1])
if current == false or (ARGV[1] == 'refused' and current == 'accepted') then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return ARGV[1]
end
return current`;

/**
 * KEYS: per job, its hash, text, admission and idempotency key. ARGV: ttl, then per job its id,
 * text and whether it has an idempotency key (1 or 0). Per job that is stored and not decided
 * yet: its text, then DECIDE_ADMISSION's `accepted` (and KEEP_IF_EQUAL on its idempotency key).
 */
const STORE_TEXTS_AND_ACCEPT = `
local answers = {}
for job = 0, #KEYS / 4 - 1 do
  local jobKey, textKey, admissionKey, idempotencyKey = KEYS[job * 4 + 1], KEYS[job * 4 + 2], KEYS[job * 4 + 3], KEYS[job * 4 + 4]
  local jobId, text, hasIdempotencyKey = ARGV[job * 3 + 2], ARGV[job * 3 + 3], ARGV[job * 3 + 4]
  local answer = 'undecided'
  if redis.call('EXISTS', jobKey) == 1 then
    answer = redis.call('GET', admissionKey)
    if not answer then
      redis.call('SET', textKey, text, 'EX', ARGV[1])
      redis.call('SET', admissionKey, 'accepted', 'EX', ARGV[1])
      if hasIdempotencyKey == '1' and redis.call('GET', idempotencyKey) == jobId then
        redis.call('EXPIRE', idempotencyKey, ARGV[1])
      end
      answer = 'accepted'
    end
  end
  answers[job + 1] = answer
end
return answers`;

/** KEYS: admission. */
const CLAIM_ADMISSION = `
local current = redis.call('GET', KEYS[1])
if current == 'accepted' then
  redis.call('SET', KEYS[1], 'running', 'KEEPTTL')
  return 'running'
end
return current`;

/** KEYS: idempotency key. ARGV: new job id, reservation seconds, admission key prefix. */
const RESERVE_IDEMPOTENCY_KEY = `
local existing = redis.call('GET', KEYS[1])
if existing then
  local admission = redis.call('GET', ARGV[3] .. existing)
  if admission == 'accepted' or admission == 'running' then return {existing, 0} end
  if admission == false then return 'in-flight' end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return {ARGV[1], 1}`;

/** KEYS: key. ARGV: expected value, ttl. */
const KEEP_IF_EQUAL = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const ADMISSION_PREFIX = 'llm-gateway:admission:';
const admissionKey = (jobId: string) => `${ADMISSION_PREFIX}${jobId}`;
/** `scopedKey` is already a digest: a client's key is never stored as sent. */
const idempotencyKey = (scopedKey: string) => `llm-gateway:idempotency:${scopedKey}`;
const cancelledKey = (jobId: string) => `llm-gateway:cancelled:${jobId}`;
const partialKey = (jobId: string) => `llm-gateway:partial:${jobId}`;
const checkpointKey = (jobId: string) => `llm-gateway:checkpoint:${jobId}`;
const mapAnswersKey = (jobId: string) => `llm-gateway:checkpoint-answers:${jobId}`;
const summaryLinesKey = (jobId: string) => `llm-gateway:checkpoint-lines:${jobId}`;
const usageKey = (jobId: string) => `llm-gateway:usage:${jobId}`;
const flavorKey = (jobId: string) => `llm-gateway:flavor:${jobId}`;
/** See readTextBytes. */
const TEXT_READ_PIECE_BYTES = 1024 * 1024;
const textGone = () => new UnrecoverableError('its text is no longer stored (cancelled or expired)');
const textKey = (jobId: string) => `llm-gateway:text:${jobId}`;

/** What a job's runs leave (checkpoints, partial summary, switched flavor): dropped when it ends. */
const runKeys = (jobId: string) => [
  checkpointKey(jobId),
  mapAnswersKey(jobId),
  summaryLinesKey(jobId),
  partialKey(jobId),
  flavorKey(jobId),
];
