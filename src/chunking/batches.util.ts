/** What a plan takes besides the turns' counts: see {@link planBatches}. */
export interface BatchLimits {
  budgetTokens: number;
  maxTurns: number;
  joinerTokens: number;
}

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

/**
 * Greedy plan: each batch as full as `budgetTokens` and `maxTurns` allow, consecutive ranges
 * covering all turns. Fewest batches possible; the last ones may be much smaller than the first.
 * Throws a RangeError when one turn alone is over the budget (never loops). Pure.
 */
export function planGreedyBatches(
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

/**
 * Every batch of a map run (no rolling context), balanced: the same number of batches as
 * {@link planGreedyBatches}, none over `budgetTokens` or `maxTurns`, and the biggest batch as
 * small as possible, because the slowest call of a round sets the round's length. Consecutive
 * ranges covering every turn once, in order. Throws like the greedy plan. Pure.
 */
export function planBatches(
  turnTokenCounts: readonly number[],
  budgetTokens: number,
  maxTurns: number,
  joinerTokens: number,
): BatchRange[] {
  const greedy = planGreedyBatches(turnTokenCounts, budgetTokens, maxTurns, joinerTokens);
  // The greedy count only grows as the cap shrinks: the smallest cap that keeps it is the
  // smallest possible biggest batch, and the greedy plan under that cap has that many batches.
  // No spread: a long transcript has more turns than a call may take arguments.
  let low = turnTokenCounts.reduce((biggest, count) => Math.max(biggest, count), 0);
  let high = greedy.reduce(
    (biggest, batch) => Math.max(biggest, batchTokens(turnTokenCounts, batch, joinerTokens)),
    low,
  );
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (countGreedyBatches(turnTokenCounts, middle, maxTurns, joinerTokens) <= greedy.length) high = middle;
    else low = middle + 1;
  }
  return planGreedyBatches(turnTokenCounts, high, maxTurns, joinerTokens);
}

function countGreedyBatches(
  turnTokenCounts: readonly number[],
  capTokens: number,
  maxTurns: number,
  joinerTokens: number,
): number {
  let count = 0;
  for (let start = 0; start < turnTokenCounts.length; count += 1) {
    const { end } = takeBatch(turnTokenCounts, start, capTokens, maxTurns, joinerTokens);
    if (end === start) return Number.POSITIVE_INFINITY;
    start = end;
  }
  return count;
}

/** Tokens of one batch as sent: its turns' counts plus a joiner between two turns. */
export function batchTokens(
  turnTokenCounts: readonly number[],
  batch: BatchRange,
  joinerTokens: number,
): number {
  let total = 0;
  for (let index = batch.start; index < batch.end; index += 1) total += turnTokenCounts[index] ?? 0;
  return total + joinerTokens * Math.max(0, batch.end - batch.start - 1);
}

/**
 * `batches` (consecutive ranges from turn 0, as the plans above give) as the end of each, in an
 * array whose buffer can be transferred between threads; `batchesFromEnds` gives them back. Pure.
 */
export function batchEnds(batches: readonly BatchRange[]): Uint32Array {
  return Uint32Array.from(batches, (batch) => batch.end);
}

/**
 * The consecutive ranges from turn 0 that end at `ends`: all of them, or those of batches
 * `[from, to)` (to build a long plan a part at a time). Pure.
 */
export function batchesFromEnds(ends: ArrayLike<number>, from = 0, to = ends.length): BatchRange[] {
  const batches: BatchRange[] = [];
  for (let index = Math.max(0, from); index < Math.min(to, ends.length); index += 1) {
    batches.push({ start: index === 0 ? 0 : (ends[index - 1] ?? 0), end: ends[index] ?? 0 });
  }
  return batches;
}
