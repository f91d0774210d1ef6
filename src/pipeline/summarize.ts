import { type BatchRange, planBatches, planGreedyBatches, takeBatch } from '../chunking/batches.util';
import { batchTokenBudget } from '../chunking/budget.util';
import { splitTurns, type Turn, turnLine } from '../chunking/turns.util';
import { type CountedTurns, splitAndCountTurn, splitAndCountTurns } from '../chunking/virtual-turns.util';
import { InferenceError } from '../inference/inference.error';
import { coalescedTask } from './coalesced-task.util';
import type { FlavorParameters } from '../jobs/job-payload';
import { fillTemplate, countPlaceholders } from '../prompts/prompt-template.util';
import type { Tokenizer } from '../tokenizers/tokenizer';
import { answerLines, consolidateSpeakers } from './summary-lines.util';

/** Saved after every batch; a job picked up again resumes from it. */
export type Checkpoint =
  | {
      kind: 'progressive';
      nextTurn: number;
      summaryLines: string[];
      /** Present once a turn was split during the run (budget or context-length rejection). */
      turns?: Turn[];
    }
  | {
      kind: 'map';
      answers: (string[] | null)[];
      /**
       * The batches the answers belong to. Absent from checkpoints saved before batches were
       * balanced: those were planned greedily, and are planned the same way again on resume.
       */
      batches?: BatchRange[];
    };

export interface SummarizeInput {
  text: string;
  fields: 1 | 2;
  flavor: FlavorParameters;
  template: string;
  reduceTemplate: string;
  tokenizer: Tokenizer;
  /** Batches of one job in flight at once in map mode (the global cap applies on top). */
  maxParallelCalls: number;
  checkpoint: Checkpoint | undefined;
}

export interface SummarizeHooks {
  /**
   * One LLM call; throws InferenceError (CONTEXT_LENGTH is handled here by splitting). `signal`
   * aborts when the job must stop: another call of the job failed, or `cancelSignal` aborted.
   */
  complete(prompt: string, promptTokens: number, signal?: AbortSignal): Promise<string>;
  saveCheckpoint(checkpoint: Checkpoint): Promise<void>;
  /**
   * After every batch. `summarySoFar` is the map output known so far, in document order (in map
   * mode, the answers of the leading run of finished batches); it only ever grows.
   */
  reportProgress(turnsDone: number, totalTurns: number, summarySoFar: readonly string[]): Promise<void>;
  /** Called at every batch boundary; throws to stop the job. */
  throwIfCancelled(): Promise<void>;
  /** Aborted when the job is cancelled or its worker stops: the calls in flight are aborted too. */
  readonly cancelSignal?: AbortSignal;
  /**
   * Splits the text into turns, their long ones into virtual turns of at most `maxTokensPerTurn`,
   * and counts every line with `tokenizer`, as `splitAndCountTurns(splitTurns(text))` does,
   * possibly off this thread. Absent: splitting runs inline.
   */
  splitText?(text: string, maxTokensPerTurn: number, tokenizer: Tokenizer): Promise<CountedTurns>;
}

/** How many times the reduce step may run over its own output before it stops. */
const MAX_REDUCE_LEVELS = 8;

/**
 * docs/api.md 6.2–6.3: turns → virtual turns → budgeted batches → progressive or parallel map →
 * hierarchical reduce → consolidation. Returns the final text, trimmed.
 */
export async function summarize(input: SummarizeInput, hooks: SummarizeHooks): Promise<string> {
  const { flavor, tokenizer } = input;
  const templateTokens = tokenizer.count(fillTemplate(input.template, input.fields === 2 ? ['', ''] : ['']));
  const roomForTurns = batchTokenBudget({
    totalContextLength: flavor.totalContextLength,
    maxGenerationLength: flavor.maxGenerationLength,
    promptTokens: templateTokens,
    contextTokens: 0,
  });
  if (roomForTurns <= 0) {
    throw new InferenceError(
      `flavor ${flavor.name}: the prompt alone (${templateTokens} tokens) leaves no room in totalContextLength ${flavor.totalContextLength} after maxGenerationLength ${flavor.maxGenerationLength}`,
      'REQUEST_REJECTED',
    );
  }
  const savedTurns = input.checkpoint?.kind === 'progressive' ? input.checkpoint.turns : undefined;
  const maxTokensPerTurn = Math.min(flavor.createNewTurnAfter, roomForTurns);
  // Each line is counted once, here: planning, budgets and progress reuse these counts.
  const turns: CountedTurns = savedTurns
    ? { turns: savedTurns, counts: savedTurns.map((turn) => tokenizer.count(turnLine(turn))) }
    : hooks.splitText
      ? await hooks.splitText(input.text, maxTokensPerTurn, tokenizer)
      : splitAndCountTurns(splitTurns(input.text), maxTokensPerTurn, tokenizer);

  let summary =
    input.fields === 2
      ? await progressiveMap(input, hooks, turns, templateTokens)
      : await parallelMap(input, hooks, turns, roomForTurns, templateTokens);
  if (flavor.reduceSummary && summary.length > 0) summary = await reduce(input, hooks, summary);
  if (flavor.consolidateSummary && flavor.type !== 'markdown') summary = consolidateSpeakers(summary);
  return summary.join('\n').trim();
}

async function progressiveMap(
  input: SummarizeInput,
  hooks: SummarizeHooks,
  initialTurns: CountedTurns,
  templateTokens: number,
): Promise<string[]> {
  const { flavor, tokenizer } = input;
  const checkpoint = input.checkpoint?.kind === 'progressive' ? input.checkpoint : undefined;
  const turns = [...initialTurns.turns];
  const counts = [...initialTurns.counts];
  let hasSplitTurns = checkpoint?.turns !== undefined;
  const summary = [...(checkpoint?.summaryLines ?? [])];
  let next = checkpoint?.nextTurn ?? 0;
  await hooks.reportProgress(next, turns.length, summary);

  const replaceTurn = (index: number, pieces: CountedTurns) => {
    turns.splice(index, 1, ...pieces.turns);
    counts.splice(index, 1, ...pieces.counts);
    hasSplitTurns = true;
  };
  // Each summary line is counted once, when it is produced; the context's count is a sum.
  const summaryCounts = summary.map((line) => tokenizer.count(line));
  const contextTokens = (size: number) =>
    size === 0 ? 0 : joinedTokens(summaryCounts.slice(-size), tokenizer.joinerTokens);
  const budgetWith = (contextSize: number) =>
    batchTokenBudget({
      totalContextLength: flavor.totalContextLength,
      maxGenerationLength: flavor.maxGenerationLength,
      promptTokens: templateTokens,
      contextTokens: contextTokens(contextSize),
    });

  // Off the call path: the next call needs this answer, not its save.
  // Progress is what the checkpoint holds, never more: the state is taken when the save starts.
  const saves = coalescedTask(async () => {
    const [savedNext, savedSummary, totalTurns] = [next, [...summary], turns.length];
    await hooks.saveCheckpoint({
      kind: 'progressive',
      nextTurn: savedNext,
      summaryLines: savedSummary,
      ...(hasSplitTurns ? { turns: [...turns] } : {}),
    });
    await hooks.reportProgress(savedNext, totalTurns, savedSummary);
  });
  try {
    while (next < turns.length) {
      saves.throwIfFailed();
      await hooks.throwIfCancelled();
      throwIfAborted(hooks.cancelSignal);
      let contextSize = Math.min(flavor.summaryTurns, summary.length);
      // A long summary line may crowd out the next turn: drop the oldest context lines first.
      while (contextSize > 0 && (counts[next] ?? 0) > budgetWith(contextSize)) contextSize -= 1;
      const budget = budgetWith(contextSize);
      let end = takeBatch(counts, next, budget, flavor.maxNewTurns, tokenizer.joinerTokens).end;
      if (end === next) {
        const turn = turns[next];
        if (turn) replaceTurn(next, splitAndCountTurn(turn, budget, tokenizer));
        continue;
      }
      let answer: string | undefined;
      while (answer === undefined) {
        const context = contextSize === 0 ? [] : summary.slice(-contextSize);
        const prompt = fillTemplate(input.template, [
          context.join('\n'),
          turns.slice(next, end).map(turnLine).join('\n'),
        ]);
        const promptTokens =
          templateTokens +
          contextTokens(contextSize) +
          joinedTokens(counts.slice(next, end), tokenizer.joinerTokens);
        try {
          answer = await hooks.complete(prompt, promptTokens, hooks.cancelSignal);
        } catch (error) {
          if (!isContextLengthError(error)) throw error;
          // The server counts differently: halve the batch, then drop the context, then split the turn.
          if (end - next > 1) end = next + Math.ceil((end - next) / 2);
          else if (contextSize > 0) contextSize = 0;
          else {
            const pieces = halveTurn(turns[next], counts[next] ?? 0, tokenizer, error);
            replaceTurn(next, pieces);
            end = next + 1;
          }
        }
      }
      const newLines = answerLines(answer, flavor.type);
      summary.push(...newLines);
      summaryCounts.push(...newLines.map((line) => tokenizer.count(line)));
      next = end;
      saves.request();
    }
  } catch (error) {
    // No save of a stopped job is left running (the job may be handed to another worker).
    await saves.flush().catch(() => undefined);
    throw error;
  }
  await saves.flush();
  return summary;
}

async function parallelMap(
  input: SummarizeInput,
  hooks: SummarizeHooks,
  { turns, counts }: CountedTurns,
  budget: number,
  templateTokens: number,
): Promise<string[]> {
  const { flavor, tokenizer } = input;
  const saved = input.checkpoint?.kind === 'map' ? input.checkpoint : undefined;
  // A resumed job keeps the batches its answers were made for, or their text would shift.
  const batches =
    saved?.batches ??
    (saved ? planGreedyBatches : planBatches)(counts, budget, flavor.maxNewTurns, tokenizer.joinerTokens);
  const answers: (string[] | null)[] = batches.map((_, index) => saved?.answers[index] ?? null);
  const turnsDone = () =>
    batches.reduce((done, batch, index) => done + (answers[index] ? batch.end - batch.start : 0), 0);
  await hooks.reportProgress(turnsDone(), turns.length, answeredPrefix(answers));

  // The first failure (or a cancellation) aborts the other calls in flight and dispatches no more:
  // a failed job must not keep paying for calls whose answers nobody will read.
  const jobStopped = new AbortController();
  // Off the slots' path: a slot sends its next call at once while the answers are saved behind it,
  // one save at a time, each with every answer known when it starts.
  const saves = coalescedTask(async () => {
    // Progress is what the checkpoint holds, never more: the state is taken when the save starts.
    const [savedAnswers, savedTurnsDone] = [[...answers], turnsDone()];
    try {
      await hooks.saveCheckpoint({ kind: 'map', answers: savedAnswers, batches });
      await hooks.reportProgress(savedTurnsDone, turns.length, answeredPrefix(savedAnswers));
    } catch (error) {
      jobStopped.abort();
      throw error;
    }
  });
  const signal = hooks.cancelSignal
    ? AbortSignal.any([hooks.cancelSignal, jobStopped.signal])
    : jobStopped.signal;
  let firstError: { error: unknown } | undefined;
  const pending = batches.map((batch, index) => ({ batch, index })).filter(({ index }) => !answers[index]);
  const runNext = async (): Promise<void> => {
    try {
      for (let item = pending.shift(); item; item = pending.shift()) {
        throwIfAborted(signal);
        // Checked alongside the call, not before it (a Redis read behind the saves): a cancelled
        // job's call is aborted as soon as the check answers, and nothing is dispatched after it.
        const cancelCheck = hooks.throwIfCancelled().catch((error: unknown) => {
          firstError ??= { error };
          jobStopped.abort();
        });
        const { start, end } = item.batch;
        const answer = await mapTurns(
          input,
          hooks,
          turns.slice(start, end),
          counts.slice(start, end),
          templateTokens,
          signal,
        );
        await cancelCheck;
        throwIfAborted(signal);
        answers[item.index] = answerLines(answer, flavor.type);
        saves.request();
      }
    } catch (error) {
      firstError ??= { error };
      jobStopped.abort();
    }
  };
  // Every runner settles before the job ends: no call of a finished job is left running.
  await Promise.all(Array.from({ length: Math.max(1, input.maxParallelCalls) }, runNext));
  // Nor a save: the last one holds every answer, and a resumed job must find it.
  const saveFailure = await saves.flush().then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  // A failed save stops the slots: its error, not their CANCELLED, is the job's.
  const failure = saveFailure ?? firstError;
  if (failure) throw failure.error;
  throwIfAborted(signal);
  return answers.flatMap((lines) => lines ?? []);
}

/** The lines of the batches answered so far up to the first one still running, in order. */
function answeredPrefix(answers: readonly (string[] | null)[]): string[] {
  const firstPending = answers.indexOf(null);
  return answers
    .slice(0, firstPending === -1 ? answers.length : firstPending)
    .flatMap((lines) => lines ?? []);
}

/** One map call; a context-length rejection splits the batch in two (a lone turn in halves). */
async function mapTurns(
  input: SummarizeInput,
  hooks: SummarizeHooks,
  batch: Turn[],
  batchCounts: number[],
  templateTokens: number,
  signal: AbortSignal,
): Promise<string> {
  const { tokenizer } = input;
  const prompt = fillTemplate(input.template, [batch.map(turnLine).join('\n')]);
  try {
    return await hooks.complete(
      prompt,
      templateTokens + joinedTokens(batchCounts, tokenizer.joinerTokens),
      signal,
    );
  } catch (error) {
    if (!isContextLengthError(error)) throw error;
    const middle = Math.ceil(batch.length / 2);
    const halves: [Turn[], number[]][] =
      batch.length > 1
        ? [
            [batch.slice(0, middle), batchCounts.slice(0, middle)],
            [batch.slice(middle), batchCounts.slice(middle)],
          ]
        : pairs(halveTurn(batch[0], batchCounts[0] ?? 0, tokenizer, error)).map(([piece, count]) => [
            [piece],
            [count],
          ]);
    const answers: string[] = [];
    for (const [turns, counts] of halves) {
      answers.push(await mapTurns(input, hooks, turns, counts, templateTokens, signal));
    }
    return answers.join('\n');
  }
}

async function reduce(input: SummarizeInput, hooks: SummarizeHooks, lines: string[]): Promise<string[]> {
  const { flavor, tokenizer } = input;
  const placeholders = countPlaceholders(input.reduceTemplate);
  const fill = (text: string) => fillTemplate(input.reduceTemplate, placeholders === 2 ? ['', text] : [text]);
  const templateTokens = tokenizer.count(fill(''));
  const budget = batchTokenBudget({
    totalContextLength: flavor.totalContextLength,
    maxGenerationLength: flavor.maxGenerationLength,
    promptTokens: templateTokens,
    contextTokens: 0,
  });
  // Each line is counted once, when it is produced.
  let current = lines;
  let counts = current.map((line) => tokenizer.count(line));
  for (let level = 1; ; level += 1) {
    await hooks.throwIfCancelled();
    const groups = groupLines(counts, budget, tokenizer.joinerTokens);
    const levelLines = current;
    const levelCounts = counts;
    // The groups of one level run at once under the job's cap; the next level needs all of them.
    const answers = await runInParallel(
      groups,
      input.maxParallelCalls,
      hooks.cancelSignal,
      async (group, signal) => {
        const prompt = fill(levelLines.slice(group.start, group.end).join('\n'));
        const promptTokens =
          templateTokens + joinedTokens(levelCounts.slice(group.start, group.end), tokenizer.joinerTokens);
        return answerLines(await hooks.complete(prompt, promptTokens, signal), flavor.type);
      },
    );
    const reduced = answers.flat();
    const reducedCounts = reduced.map((line) => tokenizer.count(line));
    const isShrinking = sum(reducedCounts) < sum(counts);
    if (groups.length === 1 || level >= MAX_REDUCE_LEVELS || !isShrinking) return reduced;
    current = reduced;
    counts = reducedCounts;
  }
}

/**
 * `work` over every item, at most `maxParallel` at once, answers in item order. The first failure
 * (or `cancelSignal`) aborts the signal given to the calls in flight and starts no more; every
 * call settles before it returns or throws the first error.
 */
async function runInParallel<Item, Answer>(
  items: readonly Item[],
  maxParallel: number,
  cancelSignal: AbortSignal | undefined,
  work: (item: Item, signal: AbortSignal) => Promise<Answer>,
): Promise<Answer[]> {
  const stopped = new AbortController();
  const signal = cancelSignal ? AbortSignal.any([cancelSignal, stopped.signal]) : stopped.signal;
  const answers: Answer[] = new Array<Answer>(items.length);
  let next = 0;
  let firstError: { error: unknown } | undefined;
  const runNext = async (): Promise<void> => {
    try {
      for (let index = next++; index < items.length; index = next++) {
        throwIfAborted(signal);
        answers[index] = await work(items[index] as Item, signal);
      }
    } catch (error) {
      firstError ??= { error };
      stopped.abort();
    }
  };
  await Promise.all(Array.from({ length: Math.min(items.length, Math.max(1, maxParallel)) }, runNext));
  if (firstError) throw firstError.error;
  throwIfAborted(signal);
  return answers;
}

/** Budget-sized groups of summary lines; a line over the budget goes alone (the server decides). */
function groupLines(
  counts: readonly number[],
  budget: number,
  joinerTokens: number,
): { start: number; end: number }[] {
  const groups: { start: number; end: number }[] = [];
  let start = 0;
  while (start < counts.length) {
    const { end } = takeBatch(counts, start, budget, Number.POSITIVE_INFINITY, joinerTokens);
    groups.push({ start, end: Math.max(end, start + 1) });
    start = Math.max(end, start + 1);
  }
  return groups;
}

function halveTurn(
  turn: Turn | undefined,
  tokens: number,
  tokenizer: Tokenizer,
  cause: unknown,
): CountedTurns {
  const pieces = turn
    ? splitAndCountTurn(turn, Math.max(1, Math.ceil(tokens / 2)), tokenizer)
    : { turns: [], counts: [] };
  if (pieces.turns.length < 2) throw cause; // nothing left to split: report the rejection itself
  return pieces;
}

/** Each turn with its count. */
function pairs({ turns, counts }: CountedTurns): [Turn, number][] {
  return turns.map((turn, index) => [turn, counts[index] ?? 0]);
}

/** Tokens of pieces joined by newlines, from their own counts (no re-tokenization). */
function joinedTokens(counts: readonly number[], joinerTokens: number): number {
  return sum(counts) + joinerTokens * Math.max(0, counts.length - 1);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** A job stopped by its cancel signal ends as an aborted call would: CANCELLED. */
function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InferenceError('cancelled', 'CANCELLED');
}

function isContextLengthError(error: unknown): boolean {
  return error instanceof InferenceError && error.code === 'CONTEXT_LENGTH';
}
