import type Redis from 'ioredis';

/**
 * The one owner of a job's Redis keys beyond BullMQ's own (docs/architecture.md, "One owner per
 * job's state"): its cancel flag, the partial summary a running job has produced, and the
 * worker's checkpoint. Nobody else builds these keys. Each key expires with the job's result
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

  /** The last checkpoint a worker saved for this job, as it saved it; undefined when none. */
  async readCheckpoint(jobId: string): Promise<unknown> {
    const saved = await this.connection.get(checkpointKey(jobId));
    return saved === null ? undefined : (JSON.parse(saved) as unknown);
  }

  async saveCheckpoint(jobId: string, checkpoint: object): Promise<void> {
    await this.connection.set(checkpointKey(jobId), JSON.stringify(checkpoint), 'EX', this.ttlSeconds);
  }

  /**
   * Appends lines to the job's partial summary (what `?partial=true` sockets are sent); returns
   * its length after the append.
   */
  async appendPartialLines(jobId: string, lines: readonly string[]): Promise<number> {
    if (lines.length === 0) return this.partialLineCount(jobId);
    const results = await this.connection
      .multi()
      .rpush(partialKey(jobId), ...lines)
      .expire(partialKey(jobId), this.ttlSeconds)
      .exec();
    const length = results?.[0]?.[1];
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

  /** A job that finished (or was deleted): its checkpoint and partial summary are dropped. */
  async forgetRun(jobId: string): Promise<void> {
    await this.connection.del(checkpointKey(jobId), partialKey(jobId));
  }
}

const cancelledKey = (jobId: string) => `llm-gateway:cancelled:${jobId}`;
const partialKey = (jobId: string) => `llm-gateway:partial:${jobId}`;
const checkpointKey = (jobId: string) => `llm-gateway:checkpoint:${jobId}`;
