import type { JobProgress, JobUsage } from './job-payload';

/** A job as read from Redis, reduced to what the status depends on. */
export type JobSnapshot =
  | { state: 'missing'; isCancelled: boolean }
  | { state: 'waiting' }
  | { state: 'active'; progress: unknown }
  | { state: 'completed'; result: string; finishedOn: number | undefined; usage?: JobUsage }
  | { state: 'failed'; reason: string; finishedOn: number | undefined };

export type JobStatusBody =
  | { status: 'queued'; message: 'Task is in queue' }
  | { status: 'started'; message: 'Task started' }
  | { status: 'processing'; message: 'Task is in progress'; progress: string }
  | { status: 'complete'; message: 'success'; summarization: string; usage?: JobUsage }
  | { status: 'error'; message: 'Task failed'; details: string; error: string }
  | { status: 'unknown'; message: 'Task does not exist' };

export const CANCELLED_REASON = 'cancelled';

/**
 * docs/api.md section 4: the body of a job's state (progress is a string holding an integer
 * percent). A finished job older than `resultTtlSeconds` counts as expired, whether or not
 * BullMQ has removed it yet. Pure.
 */
export function jobStatusBody(snapshot: JobSnapshot, now: number, resultTtlSeconds: number): JobStatusBody {
  switch (snapshot.state) {
    case 'missing':
      return snapshot.isCancelled ? errorBody(CANCELLED_REASON) : unknownBody();
    case 'waiting':
      return { status: 'queued', message: 'Task is in queue' };
    case 'active': {
      const progress = readJobProgress(snapshot.progress);
      if (!progress || progress.phase === 'started') return { status: 'started', message: 'Task started' };
      return { status: 'processing', message: 'Task is in progress', progress: String(percent(progress)) };
    }
    case 'completed':
      return isExpired(snapshot.finishedOn, now, resultTtlSeconds)
        ? unknownBody()
        : {
            status: 'complete',
            message: 'success',
            summarization: snapshot.result.trim(),
            // Jobs finished before usage was recorded have none: their body is v1's, unchanged.
            ...(snapshot.usage ? { usage: snapshot.usage } : {}),
          };
    case 'failed':
      return isExpired(snapshot.finishedOn, now, resultTtlSeconds)
        ? unknownBody()
        : errorBody(snapshot.reason);
  }
}

/** HTTP status of `GET /results/:id` for a body (docs/api.md section 4). */
export function httpStatusOf(body: JobStatusBody): number {
  switch (body.status) {
    case 'queued':
    case 'started':
    case 'processing':
      return 202;
    case 'complete':
      return 200;
    case 'error':
      return 500;
    case 'unknown':
      return 404;
  }
}

function percent(progress: { turnsDone: number; totalTurns: number }): number {
  if (progress.totalTurns <= 0) return 0;
  return Math.min(100, Math.round((100 * progress.turnsDone) / progress.totalTurns));
}

/**
 * Narrows a job's stored progress (or a `progress` event's data) to JobProgress; undefined for
 * anything else. Progress written before partial summaries existed reads as having none. Pure.
 */
export function readJobProgress(raw: unknown): JobProgress | undefined {
  if (typeof raw !== 'object' || raw === null || !('phase' in raw)) return undefined;
  const candidate = raw as Partial<
    Record<'phase' | 'turnsDone' | 'totalTurns' | 'summaryLineCount' | 'newSummaryLines', unknown>
  >;
  if (candidate.phase === 'started') return { phase: 'started' };
  if (
    candidate.phase !== 'processing' ||
    typeof candidate.turnsDone !== 'number' ||
    typeof candidate.totalTurns !== 'number'
  ) {
    return undefined;
  }
  const newSummaryLines = Array.isArray(candidate.newSummaryLines)
    ? candidate.newSummaryLines.filter((line): line is string => typeof line === 'string')
    : [];
  return {
    phase: 'processing',
    turnsDone: candidate.turnsDone,
    totalTurns: candidate.totalTurns,
    summaryLineCount:
      typeof candidate.summaryLineCount === 'number' ? candidate.summaryLineCount : newSummaryLines.length,
    newSummaryLines,
  };
}

function isExpired(finishedOn: number | undefined, now: number, ttlSeconds: number): boolean {
  return finishedOn !== undefined && now - finishedOn > ttlSeconds * 1000;
}

function errorBody(reason: string): JobStatusBody {
  return { status: 'error', message: 'Task failed', details: reason, error: reason };
}

function unknownBody(): JobStatusBody {
  return { status: 'unknown', message: 'Task does not exist' };
}

/** Narrows a stored usage record to JobUsage; undefined for anything else (never a throw). Pure. */
export function readJobUsage(raw: unknown): JobUsage | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const candidate = raw as Partial<Record<keyof JobUsage, unknown>>;
  const counts = [candidate.calls, candidate.promptTokens, candidate.completionTokens, candidate.durationMs];
  if (!counts.every((count) => typeof count === 'number' && Number.isFinite(count) && count >= 0)) {
    return undefined;
  }
  if (typeof candidate.flavor !== 'string') return undefined;
  return {
    calls: candidate.calls as number,
    promptTokens: candidate.promptTokens as number,
    completionTokens: candidate.completionTokens as number,
    durationMs: candidate.durationMs as number,
    flavor: candidate.flavor,
    ...(candidate.cached === true ? { cached: true } : {}),
  };
}
