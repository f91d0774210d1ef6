import type Redis from 'ioredis';
import type { JobUsage } from '../jobs/job-payload';
import { readJobUsage } from '../jobs/job-status.util';

/** A summary kept in the result cache, with the usage of the run that produced it. */
export interface CachedResult {
  summary: string;
  usage: JobUsage;
}

/** What a job learns when it looks its key up. */
export type CacheLookup =
  | { kind: 'hit'; result: CachedResult }
  /** Nobody has the result: this job holds the key's run lease and runs the pipeline. */
  | { kind: 'run' }
  /** Another job holds the lease (an identical request is running): wait for its result. */
  | { kind: 'wait'; holderJobId: string };

/**
 * The result cache (docs/architecture.md, "Result cache"): summaries by key (a sha256 of the
 * inputs, see `resultCacheKey`), kept RESULT_CACHE_TTL seconds, and the run lease that makes
 * identical requests share one run (single flight). The lease names the job that runs; it
 * expires unless that job renews it, so a dead worker's lease frees itself and a waiting job
 * takes over. The connection belongs to the caller (the worker's patient one).
 */
export class ResultCacheRepository {
  constructor(
    private readonly connection: Redis,
    private readonly ttlSeconds: number,
    private readonly leaseMs: number,
  ) {}

  get isEnabled(): boolean {
    return this.ttlSeconds > 0;
  }

  /** How often a running job renews its lease: three chances before it would expire. */
  get renewEveryMs(): number {
    return Math.max(100, Math.floor(this.leaseMs / 3));
  }

  /** One round trip: the result if kept, else the lease (taken, or already held by `jobId`), else who holds it. */
  async lookUp(key: string, jobId: string): Promise<CacheLookup> {
    const answer = await this.connection.eval(LOOK_UP, 2, resultKey(key), leaseKey(key), jobId, this.leaseMs);
    const [kind, value] = Array.isArray(answer) ? (answer as unknown[]) : [];
    if (kind === 'hit' && typeof value === 'string') {
      const result = readCachedResult(value);
      // An unreadable entry (another version's format) is a miss: this job runs and overwrites it.
      return result ? { kind: 'hit', result } : { kind: 'run' };
    }
    if (kind === 'wait' && typeof value === 'string') return { kind: 'wait', holderJobId: value };
    return { kind: 'run' };
  }

  /** Keeps the lease while the job runs; false when it is no longer this job's. */
  async renewLease(key: string, jobId: string): Promise<boolean> {
    return (await this.connection.eval(RENEW_IF_HOLDER, 1, leaseKey(key), jobId, this.leaseMs)) === 1;
  }

  /** Stores the result (RESULT_CACHE_TTL) and lets the lease go, in one step: waiters find the result. */
  async store(key: string, jobId: string, result: CachedResult): Promise<void> {
    await this.connection.eval(
      STORE_AND_RELEASE,
      2,
      resultKey(key),
      leaseKey(key),
      JSON.stringify(result),
      this.ttlSeconds,
      jobId,
    );
  }

  /** A job that ends without a result lets its lease go: a waiting job runs instead. */
  async releaseLease(key: string, jobId: string): Promise<void> {
    await this.connection.eval(DELETE_IF_HOLDER, 1, leaseKey(key), jobId);
  }
}

function readCachedResult(saved: string): CachedResult | undefined {
  try {
    const parsed = JSON.parse(saved) as { summary?: unknown; usage?: unknown };
    const usage = readJobUsage(parsed.usage);
    return typeof parsed.summary === 'string' && usage ? { summary: parsed.summary, usage } : undefined;
  } catch {
    return undefined;
  }
}

/** KEYS: result, lease. ARGV: job id, lease ms. */
const LOOK_UP = `
local result = redis.call('GET', KEYS[1])
if result then return {'hit', result} end
local holder = redis.call('GET', KEYS[2])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return {'run'}
end
return {'wait', holder}`;

/** KEYS: lease. ARGV: job id, lease ms. */
const RENEW_IF_HOLDER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/** KEYS: result, lease. ARGV: result, ttl seconds, job id. */
const STORE_AND_RELEASE = `
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1`;

/** KEYS: lease. ARGV: job id. */
const DELETE_IF_HOLDER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`;

/** `key` is already a digest of the inputs: no text, prompt or secret is ever part of a key. */
const resultKey = (key: string) => `llm-gateway:result-cache:${key}`;
const leaseKey = (key: string) => `llm-gateway:result-cache-run:${key}`;
