/**
 * A job's usage so far (docs/api.md, "Usage"), saved with each checkpoint under `usage`, so that
 * a job resumed by another worker, or after a failover, reports all of its calls and time.
 */
export interface UsageCounts {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  /** The workers' time on the job before this run. */
  elapsedMs: number;
}

/**
 * The usage a saved checkpoint carries; zeros when it has none (a checkpoint saved before usage
 * was recorded, or no checkpoint) or an unreadable one. Never throws. Pure.
 */
export function usageCountsFromSaved(saved: unknown): UsageCounts {
  const usage = saved !== null && typeof saved === 'object' && 'usage' in saved ? saved.usage : undefined;
  const candidate = (usage !== null && typeof usage === 'object' ? usage : {}) as Partial<
    Record<keyof UsageCounts, unknown>
  >;
  const count = (value: unknown) =>
    typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
  return {
    calls: count(candidate.calls),
    promptTokens: count(candidate.promptTokens),
    completionTokens: count(candidate.completionTokens),
    elapsedMs: count(candidate.elapsedMs),
  };
}
