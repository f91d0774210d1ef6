import {
  type BatchLimits,
  type BatchRange,
  planBatches,
  planGreedyBatches,
  takeBatch,
} from '../chunking/batches.util';
import { batchTokenBudget } from '../chunking/budget.util';
import type { SplitTurns } from '../chunking/packed-turns.util';
import { splitTurns, type Turn, turnLine } from '../chunking/turns.util';
import { type CountedTurns, splitAndCountTurn, splitAndCountTurns } from '../chunking/virtual-turns.util';
import { InferenceError } from '../inference/inference.error';
import { CallSlots } from './call-slots';
import { coalescedTask } from './coalesced-task.util';
import { ReduceLevels } from './reduce-levels';
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
  /** The text, split here; absent when `hooks.splitText` splits the job's text itself. */
  text?: string;
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
   * Splits the job's text (which the caller holds, as bytes maybe) into turns, their long ones
   * into virtual turns of at most `maxTokensPerTurn`, and counts every line with `tokenizer`, as
   * `splitAndCountTurns(splitTurns(text))` does, possibly off this thread. Given `batchLimits`
   * (map mode: the turns are read a batch at a time), the turns may come as a TurnList that
   * builds them by range, with their batches planned as `planBatches(counts, ...batchLimits)`
   * would. Absent: `input.text` is split inline.
   */
  splitText?(maxTokensPerTurn: number, tokenizer: Tokenizer, batchLimits?: BatchLimits): Promise<SplitTurns>;
}

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
  // The batches a fresh map run plans (mapAndReduce), which the split may plan beside its work.
  const batchLimits: BatchLimits | undefined =
    input.fields === 1 && input.checkpoint?.kind !== 'map'
      ? { budgetTokens: roomForTurns, maxTurns: flavor.maxNewTurns, joinerTokens: tokenizer.joinerTokens }
      : undefined;
  // Each line is counted once, here: planning, budgets and progress reuse these counts.
  const turns: SplitTurns = savedTurns
    ? { turns: savedTurns, counts: savedTurns.map((turn) => tokenizer.count(turnLine(turn))) }
    : hooks.splitText
      ? await hooks.splitText(maxTokensPerTurn, tokenizer, batchLimits)
      : splitAndCountTurns(splitTurns(input.text ?? ''), maxTokensPerTurn, tokenizer);

  let summary: string[];
  if (input.fields === 2) {
    summary = await progressiveMap(input, hooks, turns, templateTokens);
    if (flavor.reduceSummary && summary.length > 0) summary = await reduceAll(input, hooks, summary);
  } else {
    // The reduce starts while the map still runs: its first groups fill the slots the last map
    // batches leave free.
    summary = await mapAndReduce(input, hooks, turns, roomForTurns, templateTokens);
  }
  if (flavor.consolidateSummary && flavor.type !== 'markdown') summary = consolidateSpeakers(summary);
  return summary.join('\n').trim();
}

async function progressiveMap(
  input: SummarizeInput,
  hooks: SummarizeHooks,
  initialTurns: SplitTurns,
  templateTokens: number,
): Promise<string[]> {
  const { flavor, tokenizer } = input;
  const checkpoint = input.checkpoint?.kind === 'progressive' ? input.checkpoint : undefined;
  const turns = [...initialTurns.turns];
  const counts = [...initialTurns.counts];
  let hasSplitTurns = checkpoint?.turns !== undefined;
  const summary = [...(checkpoint?.summaryLines ?? [])];
  let next = checkpoint?.nextTurn ?? 0;
  const firstReport = inBackground(
    afterThisTurn(hooks, { turnsDone: next, totalTurns: turns.length, summarySoFar: [...summary] }),
  );

  const replaceTurn = (index: number, pieces: CountedTurns) => {
    turns.splice(index, 1, ...pieces.turns);
    counts.splice(index, 1, ...pieces.counts);
    hasSplitTurns = true;
  };
  // Each summary line is counted once, the first time it is part of a prompt's context (most
  // never are: only the last summaryTurns lines are); the context's count is a sum.
  const summaryCounts: (number | undefined)[] = [];
  const summaryCount = (index: number) => (summaryCounts[index] ??= tokenizer.count(summary[index] ?? ''));
  const contextTokens = (size: number) =>
    size === 0
      ? 0
      : joinedTokens(
          Array.from({ length: size }, (_, offset) => summaryCount(summary.length - size + offset)),
          tokenizer.joinerTokens,
        );
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
    await firstReport.settled();
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
      // Checked alongside the call, not before it, as in map mode.
      const cancelCheck = checkedBeside(hooks);
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
          answer = await hooks.complete(prompt, promptTokens, cancelCheck.signal);
        } catch (error) {
          await cancelCheck.settled(); // a call aborted by the check fails as the check says
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
      await cancelCheck.settled();
      const newLines = answerLines(answer, flavor.type);
      summary.push(...newLines);
      next = end;
      saves.request();
    }
  } catch (error) {
    // No save of a stopped job is left running (the job may be handed to another worker).
    await saves.flush().catch(() => undefined);
    await firstReport.settled().catch(() => undefined);
    throw error;
  }
  await saves.flush();
  await firstReport.settled();
  return summary;
}

/**
 * The map step, every batch in parallel under the job's cap, and with `reduceSummary` the reduce
 * levels fed by the map answers as they come, in the same slots (see ReduceLevels).
 */
async function mapAndReduce(
  input: SummarizeInput,
  hooks: SummarizeHooks,
  { turns, counts, batches: plannedBatches }: SplitTurns,
  budget: number,
  templateTokens: number,
): Promise<string[]> {
  const { flavor, tokenizer } = input;
  const saved = input.checkpoint?.kind === 'map' ? input.checkpoint : undefined;
  // A resumed job keeps the batches its answers were made for, or their text would shift.
  const batches =
    saved?.batches ??
    (saved
      ? planGreedyBatches(counts, budget, flavor.maxNewTurns, tokenizer.joinerTokens)
      : (plannedBatches ?? planBatches(counts, budget, flavor.maxNewTurns, tokenizer.joinerTokens)));
  const answers: (string[] | null)[] = batches.map((_, index) => saved?.answers[index] ?? null);
  const turnsDone = () =>
    batches.reduce((done, batch, index) => done + (answers[index] ? batch.end - batch.start : 0), 0);
  // The lines of the leading run of answered batches, extended as it grows: rebuilding it at every
  // save cost ~20 ms of event loop per save late in a 20,000-batch job.
  const prefixLines: string[] = [];
  let prefixBatches = 0;
  const answeredPrefix = () => {
    for (let lines = answers[prefixBatches]; lines; lines = answers[prefixBatches]) {
      for (const line of lines) prefixLines.push(line);
      prefixBatches += 1;
    }
    return prefixLines.slice();
  };
  const firstReport = inBackground(
    afterThisTurn(hooks, {
      turnsDone: turnsDone(),
      totalTurns: turns.length,
      summarySoFar: answeredPrefix(),
    }),
  );

  // The first failure (or a cancellation) aborts the other calls in flight and dispatches no more:
  // a failed job must not keep paying for calls whose answers nobody will read.
  const slots = new CallSlots(hooks.cancelSignal);
  // Off the slots' path: a slot sends its next call at once while the answers are saved behind it,
  // one save at a time, each with every answer known when it starts.
  const saves = coalescedTask(async () => {
    // Progress is what the checkpoint holds, never more: the state is taken when the save starts.
    const [savedAnswers, savedTurnsDone, savedPrefix] = [[...answers], turnsDone(), answeredPrefix()];
    try {
      await firstReport.settled();
      await hooks.saveCheckpoint({ kind: 'map', answers: savedAnswers, batches });
      await hooks.reportProgress(savedTurnsDone, turns.length, savedPrefix);
    } catch (error) {
      slots.stop();
      throw error;
    }
  });
  const reduce = flavor.reduceSummary ? reduceLevels(input, hooks, slots) : undefined;
  // The answers go to the reduce in document order: the leading run of answered batches.
  let passedOn = 0;
  const passOnAnswers = () => {
    if (!reduce || passedOn > answers.length) return;
    for (let lines = answers[passedOn]; lines; lines = answers[passedOn]) {
      passedOn += 1;
      reduce.add(
        lines,
        lines.map((line) => tokenizer.count(line)),
      );
    }
    if (passedOn === answers.length) {
      passedOn += 1; // ended once
      reduce.end();
    }
  };
  batches.forEach((batch, index) => {
    if (answers[index]) return;
    slots.add(0, async (signal) => {
      // Checked alongside the call, not before it (a Redis read behind the saves): a cancelled
      // job's call is aborted as soon as the check answers, and nothing is dispatched after it.
      const cancelCheck = hooks.throwIfCancelled().catch((error: unknown) => slots.fail(error));
      const answer = await mapTurns(
        input,
        hooks,
        turns.slice(batch.start, batch.end),
        counts.slice(batch.start, batch.end),
        templateTokens,
        signal,
      );
      await cancelCheck;
      throwIfAborted(signal);
      answers[index] = answerLines(answer, flavor.type);
      saves.request();
      passOnAnswers();
    });
  });
  passOnAnswers(); // a resumed job's answers
  // Every call settles before the job ends: no call of a finished job is left running.
  const callFailure = await slots.run(input.maxParallelCalls);
  // Nor a save: the last one holds every answer, and a resumed job must find it.
  const saveFailure = await saves
    .flush()
    .then(() => firstReport.settled())
    .then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
  // A failed save stops the slots: its error, not their CANCELLED, is the job's.
  const failure = saveFailure ?? callFailure;
  if (failure) throw failure.error;
  throwIfAborted(slots.signal);
  return reduce ? reduce.result : answers.flatMap((lines) => lines ?? []);
}

/**
 * `hooks.throwIfCancelled()` started beside a call, once the call has been sent (the next turn of
 * the event loop): the check (a Redis round trip) delays nothing on the call's path. `signal`
 * (for the call) aborts as soon as the check throws, and `settled()` throws what it threw.
 */
function checkedBeside(hooks: SummarizeHooks): { signal: AbortSignal; settled(): Promise<void> } {
  const cancelled = new AbortController();
  const outcome = new Promise((resolve) => setImmediate(resolve))
    .then(() => hooks.throwIfCancelled())
    .then(
      () => undefined,
      (error: unknown) => {
        cancelled.abort();
        return { error };
      },
    );
  return {
    signal: hooks.cancelSignal ? AbortSignal.any([hooks.cancelSignal, cancelled.signal]) : cancelled.signal,
    settled: async () => {
      const failure = await outcome;
      if (failure) throw failure.error;
    },
  };
}

/**
 * The progress report of `state` (taken by the caller now), made in the event loop's next turn: a
 * job's first report then leaves after its first call instead of on that call's path (its writes,
 * and the sockets it updates, hold a ROLE=all process ~1 ms while the call's request is built).
 */
async function afterThisTurn(
  hooks: Pick<SummarizeHooks, 'reportProgress'>,
  state: { turnsDone: number; totalTurns: number; summarySoFar: readonly string[] },
): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await hooks.reportProgress(state.turnsDone, state.totalTurns, state.summarySoFar);
}

/**
 * A job's first progress report, sent beside its first call instead of before it: the saves
 * (which report progress too) wait for it, so reports stay in order; `settled()` throws its error.
 */
function inBackground(report: Promise<void>): { settled(): Promise<void> } {
  const outcome = report.then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  return {
    settled: async () => {
      const failure = await outcome;
      if (failure) throw failure.error;
    },
  };
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

/** The reduce alone, over the whole summary (after the progressive step). */
async function reduceAll(input: SummarizeInput, hooks: SummarizeHooks, lines: string[]): Promise<string[]> {
  const slots = new CallSlots(hooks.cancelSignal);
  const reduce = reduceLevels(input, hooks, slots);
  reduce.add(
    lines,
    lines.map((line) => input.tokenizer.count(line)),
  );
  reduce.end();
  const failure = await slots.run(input.maxParallelCalls);
  if (failure) throw failure.error;
  throwIfAborted(slots.signal);
  return reduce.result;
}

/** The job's reduce levels, their calls made in `slots` with the reduce template. */
function reduceLevels(input: SummarizeInput, hooks: SummarizeHooks, slots: CallSlots): ReduceLevels {
  const { flavor, tokenizer } = input;
  const placeholders = countPlaceholders(input.reduceTemplate);
  const fill = (text: string) => fillTemplate(input.reduceTemplate, placeholders === 2 ? ['', text] : [text]);
  const templateTokens = tokenizer.count(fill(''));
  return new ReduceLevels(slots, {
    budget: batchTokenBudget({
      totalContextLength: flavor.totalContextLength,
      maxGenerationLength: flavor.maxGenerationLength,
      promptTokens: templateTokens,
      contextTokens: 0,
    }),
    joinerTokens: tokenizer.joinerTokens,
    countTokens: (line) => tokenizer.count(line),
    reduceGroup: async (lines, lineTokens, signal) => {
      const cancelCheck = hooks.throwIfCancelled().catch((error: unknown) => slots.fail(error));
      const answer = await hooks.complete(fill(lines.join('\n')), templateTokens + lineTokens, signal);
      await cancelCheck;
      throwIfAborted(signal);
      return answerLines(answer, flavor.type);
    },
  });
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
