/** Turns `[start, end)` of a batch, in transcript order. */
export interface BatchRange {
  start: number;
  end: number;
}

/**
 * The next batch from `start`: as many turns as fit in `budgetTokens` (each turn's count plus
 * `joinerTokens` for the newline between turns) and at most `maxTurns`. Returns an empty range
 * when the turn at `start` alone does not fit: the caller splits it (it never loops). Pure.
 */
export function takeBatch(
  turnTokenCounts: readonly number[],
  start: number,
  budgetTokens: number,
  maxTurns: number,
  joinerTokens: number,
): BatchRange {
  let used = 0;
  let end = start;
  while (end < turnTokenCounts.length && end - start < maxTurns) {
    const cost = (turnTokenCounts[end] ?? 0) + (end > start ? joinerTokens : 0);
    if (used + cost > budgetTokens) break;
    used += cost;
    end += 1;
  }
  return { start, end };
}

/** Every batch of a map run (no rolling context): consecutive ranges covering all turns. */
export function planBatches(
  turnTokenCounts: readonly number[],
  budgetTokens: number,
  maxTurns: number,
  joinerTokens: number,
): BatchRange[] {
  const batches: BatchRange[] = [];
  let start = 0;
  while (start < turnTokenCounts.length) {
    const batch = takeBatch(turnTokenCounts, start, budgetTokens, maxTurns, joinerTokens);
    if (batch.end === batch.start) {
      throw new RangeError(
        `turn ${start} (${turnTokenCounts[start]} tokens) does not fit a batch budget of ${budgetTokens} tokens`,
      );
    }
    batches.push(batch);
    start = batch.end;
  }
  return batches;
}
