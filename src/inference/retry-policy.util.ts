export type FailureKind = 'context_length' | 'retryable' | 'fatal';

/** What a failed call tells us, read off the SDK error without depending on its classes. */
export interface CallFailure {
  /** HTTP status, undefined for connection errors and timeouts. */
  status: number | undefined;
  message: string;
  /** OpenAI's error code, e.g. `context_length_exceeded`. */
  code?: string | number | null;
}

const CONTEXT_LENGTH_MESSAGE =
  /maximum context length|context length|context_length_exceeded|too many tokens/i;

/**
 * docs/api.md 6.4: retry 429, 5xx, timeouts and connection errors; never other 4xx. A 400 naming the
 * context length (vLLM's message, OpenAI's `context_length_exceeded`) is its own kind. Pure.
 */
export function classifyFailure(failure: CallFailure): FailureKind {
  const { status } = failure;
  if (status === undefined) return 'retryable';
  if (
    status === 400 &&
    (failure.code === 'context_length_exceeded' || CONTEXT_LENGTH_MESSAGE.test(failure.message))
  ) {
    return 'context_length';
  }
  if (status === 408 || status === 409 || status === 429 || status >= 500) return 'retryable';
  return 'fatal';
}

/**
 * Milliseconds to wait before attempt `attempt + 1` (attempt counts from 1): exponential from
 * 500 ms, capped at `maxDelaySeconds`, with "equal jitter" (half the delay fixed, half random: a
 * retry never comes back at once, and retries of many jobs still spread out); a `Retry-After`
 * header (seconds or an HTTP date) wins when present, also capped. `random` is injectable for
 * tests. Pure.
 */
export function backoffDelayMs(
  attempt: number,
  maxDelaySeconds: number,
  retryAfter: string | null | undefined,
  random: () => number = Math.random,
  now: number = Date.now(),
): number {
  const capMs = maxDelaySeconds * 1000;
  const retryAfterMs = parseRetryAfterMs(retryAfter, now);
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, capMs);
  const exponentialMs = Math.min(capMs, 500 * 2 ** (attempt - 1));
  return Math.round(exponentialMs / 2 + (random() * exponentialMs) / 2);
}

function parseRetryAfterMs(retryAfter: string | null | undefined, now: number): number | undefined {
  if (!retryAfter) return undefined;
  const seconds = Number(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
