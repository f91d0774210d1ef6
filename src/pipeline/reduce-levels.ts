import { takeBatch } from '../chunking/batches.util';
import type { CallSlots } from './call-slots';

/** How many times the reduce step may run over its own output before it stops. */
export const MAX_REDUCE_LEVELS = 8;

export interface ReduceLevelsOptions {
  /** Tokens of summary lines one reduce call may hold. */
  budget: number;
  /** Tokens of the newline between two lines. */
  joinerTokens: number;
  countTokens(line: string): number;
  /** One reduce call over `lines` (`lineTokens` tokens joined); the lines of its answer. */
  reduceGroup(lines: readonly string[], lineTokens: number, signal: AbortSignal): Promise<string[]>;
}

interface Group {
  start: number;
  end: number;
  answer: string[] | undefined;
  answerCounts: number[];
}

class Level {
  readonly lines: string[] = [];
  readonly counts: number[] = [];
  readonly groups: Group[] = [];
  isInputComplete = false;
  isComplete = false;
  /** The lines before it are in a group. */
  groupedUpTo = 0;
  /** The groups before it have passed their answers on to `next`. */
  passedOn = 0;
  /** The level that reduces this one's answers, once this one is known to have several groups. */
  next: Level | undefined;
  /** Aborted when a level before it did not shrink the text: its calls are not needed. */
  readonly dropped = new AbortController();

  constructor(readonly depth: number) {}

  /** A method, not a field read: the level may be dropped while one of its calls runs. */
  isDropped(): boolean {
    return this.dropped.signal.aborted;
  }
}

/**
 * docs/api.md 6.3's hierarchical reduce: summary lines in budget-sized groups, one call per group,
 * the answers reduced again level after level until one group holds them all, a level does not
 * shrink the text, or MAX_REDUCE_LEVELS levels ran. The groups and answers are those of running
 * the levels one after another, but each group is sent as soon as its lines are known (its
 * inputs answered, and the line after it, or the end of its level's input): a level's first
 * groups run beside the previous level's last calls instead of waiting for the slowest of them.
 * A level started before the previous one turned out not to shrink the text is dropped (its
 * calls aborted, its answers unused).
 */
export class ReduceLevels {
  private readonly first = new Level(1);
  private output: string[] | undefined;

  constructor(
    private readonly slots: CallSlots,
    private readonly options: ReduceLevelsOptions,
  ) {}

  /** More lines for the first level, in order, with their token counts. */
  add(lines: readonly string[], counts: readonly number[]): void {
    this.feed(this.first, lines, counts);
  }

  /** No more lines for the first level. */
  end(): void {
    this.endInput(this.first);
  }

  /** The reduced lines, once the last level has answered. */
  get result(): string[] {
    if (!this.output) throw new Error('the reduce has not ended');
    return this.output;
  }

  private feed(level: Level, lines: readonly string[], counts: readonly number[]): void {
    level.lines.push(...lines);
    level.counts.push(...counts);
    this.closeGroups(level);
  }

  private endInput(level: Level): void {
    level.isInputComplete = true;
    this.closeGroups(level);
    this.completeIfDone(level);
  }

  /** Sends every group whose lines are known: the line after it did not fit, or no line follows. */
  private closeGroups(level: Level): void {
    const { budget, joinerTokens } = this.options;
    while (level.groupedUpTo < level.lines.length) {
      const start = level.groupedUpTo;
      const fitEnd = takeBatch(level.counts, start, budget, Number.POSITIVE_INFINITY, joinerTokens).end;
      if (fitEnd === level.lines.length && !level.isInputComplete) return; // it may still grow
      // A line over the budget goes alone (the server decides).
      const end = Math.max(fitEnd, start + 1);
      const group: Group = { start, end, answer: undefined, answerCounts: [] };
      level.groups.push(group);
      level.groupedUpTo = end;
      const hasSeveralGroups = end < level.lines.length || level.groups.length > 1;
      if (!level.next && hasSeveralGroups && level.depth < MAX_REDUCE_LEVELS) {
        level.next = new Level(level.depth + 1);
      }
      this.slots.add(level.depth, (signal) => this.runGroup(level, group, signal));
    }
  }

  private async runGroup(level: Level, group: Group, signal: AbortSignal): Promise<void> {
    if (level.isDropped()) return;
    const lines = level.lines.slice(group.start, group.end);
    const counts = level.counts.slice(group.start, group.end);
    const lineTokens = sum(counts) + this.options.joinerTokens * Math.max(0, counts.length - 1);
    let answer: string[];
    try {
      answer = await this.options.reduceGroup(
        lines,
        lineTokens,
        AbortSignal.any([signal, level.dropped.signal]),
      );
    } catch (error) {
      if (level.isDropped() && !signal.aborted) return; // no longer needed: no failure
      throw error;
    }
    if (level.isDropped()) return;
    group.answer = answer;
    group.answerCounts = answer.map((line) => this.options.countTokens(line));
    this.passOn(level);
    this.completeIfDone(level);
  }

  /** The answers of the leading run of answered groups, to the next level, in order. */
  private passOn(level: Level): void {
    const next = level.next;
    if (!next) return;
    for (let group = level.groups[level.passedOn]; group?.answer; group = level.groups[level.passedOn]) {
      level.passedOn += 1;
      this.feed(next, group.answer, group.answerCounts);
    }
  }

  private completeIfDone(level: Level): void {
    const isDone =
      !level.isComplete &&
      level.isInputComplete &&
      level.groupedUpTo === level.lines.length &&
      level.groups.every((group) => group.answer);
    if (!isDone) return;
    level.isComplete = true;
    const output = level.groups.flatMap((group) => group.answer ?? []);
    const next = level.next;
    if (!next) {
      this.output = output;
      return;
    }
    const isShrinking = sum(level.groups.flatMap((group) => group.answerCounts)) < sum(level.counts);
    if (!isShrinking) {
      for (let dropped: Level | undefined = next; dropped; dropped = dropped.next) dropped.dropped.abort();
      this.output = output;
      return;
    }
    this.endInput(next);
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
