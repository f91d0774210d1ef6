import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchLimits } from '../chunking/batches.util';
import { batchTokenBudget } from '../chunking/budget.util';
import { packedTurnList, packTurns } from '../chunking/packed-turns.util';
import { splitTurns, turnLine } from '../chunking/turns.util';
import { splitAndCountTurns } from '../chunking/virtual-turns.util';
import { InferenceError } from '../inference/inference.error';
import type { FlavorParameters } from '../jobs/job-payload';
import type { Tokenizer } from '../tokenizers/tokenizer';
import { type Checkpoint, summarize, type SummarizeHooks, type SummarizeInput } from './summarize';

/**
 * summarize() with in-memory hooks: a word-counting tokenizer and a fake LLM whose answers are
 * functions of the prompt, so each test states exactly which calls happen. Milliseconds, no IO.
 */

/** One token per word; a newline between two pieces costs nothing. */
const wordTokenizer: Tokenizer = {
  family: 'words',
  joinerTokens: 0,
  count: (text) => text.split(/\s+/).filter(Boolean).length,
  encode: (text) =>
    text
      .split(/\s+/)
      .filter(Boolean)
      .map((_, index) => index),
  decode: (ids) => ids.map(() => 'w').join(' '),
};

const PROGRESSIVE = 'CONTEXT\n{}\nTURNS\n{}';
const MAP = 'TURNS\n{}';
const REDUCE = 'REDUCE\n{}';

/** The fake LLM's summary of a turn line: the line, marked. */
const summaryOf = (line: string) => `= ${line}`;

interface Call {
  prompt: string;
  context: string[];
  turns: string[];
}

/** Splits a prompt built from our templates back into its context and turn lines. */
function parsePrompt(prompt: string): Call {
  const turnsAt = prompt.startsWith('TURNS\n') ? 0 : prompt.indexOf('\nTURNS\n') + 1;
  const isTurnPrompt = turnsAt > 0 || prompt.startsWith('TURNS\n');
  const context = prompt.startsWith('CONTEXT\n') ? prompt.slice('CONTEXT\n'.length, turnsAt - 1) : '';
  const turns = isTurnPrompt ? prompt.slice(turnsAt + 'TURNS\n'.length) : '';
  return {
    prompt,
    context: context.split('\n').filter(Boolean),
    turns: turns.split('\n').filter(Boolean),
  };
}

function flavor(overrides: Partial<FlavorParameters> = {}): FlavorParameters {
  return {
    name: 'test',
    modelName: 'model',
    // (totalContextLength − maxGenerationLength) / 1.15 − prompt words: about 100 words of turns.
    totalContextLength: 1_000,
    maxGenerationLength: 880,
    tokenizerClass: 'words',
    createNewTurnAfter: 50,
    summaryTurns: 2,
    maxNewTurns: 4,
    temperature: 0,
    top_p: 1,
    reduceSummary: false,
    consolidateSummary: false,
    type: 'abstractive',
    ...overrides,
  };
}

interface Run {
  summary: string;
  calls: Call[];
  checkpoints: Checkpoint[];
  progress: { turnsDone: number; totalTurns: number; summarySoFar: string[] }[];
}

/**
 * Runs summarize() on `text`; `reject(call)` makes the fake server refuse a call for its context
 * length (the server counts differently), `answer(call)` overrides the answer.
 */
async function run(
  text: string,
  options: {
    fields?: 1 | 2;
    flavor?: Partial<FlavorParameters>;
    checkpoint?: Checkpoint;
    reject?: (call: Call) => boolean;
    answer?: (call: Call) => string;
    maxParallelCalls?: number;
    splitText?: SummarizeHooks['splitText'];
  } = {},
): Promise<Run> {
  const fields = options.fields ?? 2;
  const calls: Call[] = [];
  const checkpoints: Checkpoint[] = [];
  const progress: Run['progress'] = [];
  const input: SummarizeInput = {
    text,
    fields,
    flavor: flavor(options.flavor),
    template: fields === 2 ? PROGRESSIVE : MAP,
    reduceTemplate: REDUCE,
    tokenizer: wordTokenizer,
    maxParallelCalls: options.maxParallelCalls ?? 2,
    checkpoint: options.checkpoint,
  };
  const hooks: SummarizeHooks = {
    complete: async (prompt) => {
      const call = parsePrompt(prompt);
      calls.push(call);
      if (options.reject?.(call)) {
        throw new InferenceError("This model's maximum context length is 100 tokens", 'CONTEXT_LENGTH');
      }
      if (options.answer) return options.answer(call);
      return call.turns.map(summaryOf).join('\n');
    },
    saveCheckpoint: async (checkpoint) => {
      checkpoints.push(structuredClone(checkpoint));
    },
    reportProgress: async (turnsDone, totalTurns, summarySoFar) => {
      progress.push({ turnsDone, totalTurns, summarySoFar: [...summarySoFar] });
    },
    throwIfCancelled: async () => undefined,
    ...(options.splitText ? { splitText: options.splitText } : {}),
  };
  return { summary: await summarize(input, hooks), calls, checkpoints, progress };
}

const transcript = (count: number, words = 5) =>
  Array.from(
    { length: count },
    (_, index) => `S${index % 3} : ${Array.from({ length: words }, () => `t${index}`).join(' ')}`,
  ).join('\n');

const linesOf = (text: string) => splitTurns(text).map(turnLine);

describe('summarize: the map step', () => {
  it.each([
    ['progressive', 2],
    ['map', 1],
  ] as const)(
    '%s: every turn reaches one prompt, once, in order, at most maxNewTurns per call',
    async (_mode, fields) => {
      const text = transcript(10);
      const { summary, calls } = await run(text, { fields });
      const sent = calls.flatMap((call) => call.turns);
      expect(sent).toEqual(linesOf(text));
      expect(calls.every((call) => call.turns.length <= 4)).toBe(true);
      expect(summary).toBe(linesOf(text).map(summaryOf).join('\n'));
    },
  );

  it('progressive: each prompt carries the last summaryTurns lines of the summary so far', async () => {
    const { calls } = await run(transcript(8));
    expect(calls[0]?.context).toEqual([]);
    expect(calls[1]?.context).toEqual(calls[0]?.turns.slice(-2).map(summaryOf));
  });

  it('progressive: summaryTurns 0 sends no context line', async () => {
    const { calls } = await run(transcript(8), { flavor: { summaryTurns: 0 } });
    expect(calls.every((call) => call.context.length === 0)).toBe(true);
  });

  it('progress only moves forward and the summary so far only grows', async () => {
    for (const fields of [1, 2] as const) {
      const { progress } = await run(transcript(12), { fields });
      expect(progress.at(0)?.turnsDone).toBe(0);
      expect(progress.at(-1)).toMatchObject({ turnsDone: 12, totalTurns: 12 });
      for (let index = 1; index < progress.length; index += 1) {
        const [before, after] = [progress[index - 1], progress[index]];
        expect(after?.turnsDone).toBeGreaterThanOrEqual(before?.turnsDone ?? 0);
        expect(after?.summarySoFar.slice(0, before?.summarySoFar.length)).toEqual(before?.summarySoFar);
      }
    }
  });
});

describe('summarize: resuming from a checkpoint', () => {
  const text = transcript(10);
  const lines = linesOf(text);

  it('progressive: starts at nextTurn and keeps the saved summary lines', async () => {
    const saved = lines.slice(0, 4).map(summaryOf);
    const { summary, calls } = await run(text, {
      checkpoint: { kind: 'progressive', nextTurn: 4, summaryLines: saved },
    });
    expect(calls.flatMap((call) => call.turns)).toEqual(lines.slice(4));
    expect(calls[0]?.context).toEqual(saved.slice(-2));
    expect(summary).toBe(lines.map(summaryOf).join('\n'));
  });

  it('progressive: uses the turns it saved once a turn was split, not a new split of the text', async () => {
    const savedTurns = [
      { speaker: 'A', prefix: 'A : ', text: 'first half' },
      { speaker: 'A', prefix: 'A : ', text: 'second half' },
      { speaker: 'B', prefix: 'B : ', text: 'last' },
    ];
    const { calls } = await run('A : first half second half\nB : last', {
      checkpoint: { kind: 'progressive', nextTurn: 1, summaryLines: ['= A : first half'], turns: savedTurns },
    });
    expect(calls.flatMap((call) => call.turns)).toEqual(['A : second half', 'B : last']);
  });

  it('map: only the batches without an answer are sent, with the batches the checkpoint saved', async () => {
    const first = await run(text, { fields: 1 });
    const [firstBatch, secondBatch] = first.calls.map((call) => call.turns);
    const answers = first.calls.map((call) => call.turns.map(summaryOf));
    const saved = first.checkpoints.at(-1);
    if (saved?.kind !== 'map' || !saved.batches)
      throw new Error('expected a map checkpoint with its batches');
    const resumed = await run(text, {
      fields: 1,
      checkpoint: {
        kind: 'map',
        answers: [answers[0] ?? [], null, answers[2] ?? []],
        batches: saved.batches,
      },
    });
    expect(resumed.calls.map((call) => call.turns)).toEqual([secondBatch]);
    expect(firstBatch).toBeDefined();
    expect(resumed.summary).toBe(first.summary);
  });

  it('map: a checkpoint saved before batches were balanced (no batches) resumes on the greedy plan it was made with', async () => {
    // 4 turns of 30 words, ~103 words a batch: greedy plans 3 + 1, balanced 2 + 2.
    const evenText = transcript(4, 28);
    const lines = linesOf(evenText);
    const greedyAnswers = [lines.slice(0, 3).map(summaryOf), null];
    const resumed = await run(evenText, {
      fields: 1,
      flavor: { maxNewTurns: 9 },
      checkpoint: { kind: 'map', answers: greedyAnswers },
    });
    expect(resumed.calls.map((call) => call.turns)).toEqual([lines.slice(3)]);
    expect(resumed.summary).toBe(lines.map(summaryOf).join('\n'));
    // A fresh job of the same text is balanced: the plans really differ.
    const fresh = await run(evenText, { fields: 1, flavor: { maxNewTurns: 9 } });
    expect(fresh.calls.map((call) => call.turns.length).sort()).toEqual([2, 2]);
  });
});

describe('summarize: a split that plans the map batches too (hooks.splitText)', () => {
  const text = transcript(10);
  const lines = linesOf(text);
  // The test flavor's room for turns: what a fresh map run plans its batches with.
  const mapLimits: BatchLimits = {
    budgetTokens: batchTokenBudget({
      totalContextLength: 1_000,
      maxGenerationLength: 880,
      promptTokens: wordTokenizer.count(MAP.replace('{}', '')),
      contextTokens: 0,
    }),
    maxTurns: 4,
    joinerTokens: 0,
  };

  it.each([
    ['a fresh map run asks for the limits it plans with', 1, undefined, mapLimits],
    ['a progressive run asks for none', 2, undefined, undefined],
    [
      'a resumed map run asks for none (it keeps its saved batches)',
      1,
      { kind: 'map', answers: [null, null, null] },
      undefined,
    ],
  ] as const)('%s', async (_case, fields, checkpoint, expected) => {
    const asked: (BatchLimits | undefined)[] = [];
    await run(text, {
      fields,
      ...(checkpoint ? { checkpoint: { ...checkpoint, answers: [...checkpoint.answers] } } : {}),
      splitText: async (maxTokensPerTurn, tokenizer, batchLimits) => {
        asked.push(batchLimits);
        return splitAndCountTurns(splitTurns(text), maxTokensPerTurn, tokenizer);
      },
    });
    expect(asked).toEqual([expected]);
  });

  it('map: sends the batches the split planned, its turns read a batch at a time from packed turns', async () => {
    const { summary, calls } = await run(text, {
      fields: 1,
      splitText: async (maxTokensPerTurn, tokenizer) => {
        const counted = splitAndCountTurns(splitTurns(text), maxTokensPerTurn, tokenizer);
        // One turn a batch: not the plan summarize() would make, so its use shows.
        const batches = counted.turns.map((_, index) => ({ start: index, end: index + 1 }));
        return { turns: packedTurnList(packTurns(counted)), counts: counted.counts, batches };
      },
    });
    expect(calls.map((call) => call.turns)).toEqual(lines.map((line) => [line]));
    expect(summary).toBe((await run(text, { fields: 1 })).summary);
  });
});

describe('summarize: the context-length ladder (the server counts more than we do)', () => {
  it('progressive: a rejected batch is halved', async () => {
    const text = transcript(4);
    const { calls, summary } = await run(text, { reject: (call) => call.turns.length > 2 });
    expect(calls.map((call) => call.turns.length)).toEqual([4, 2, 2]);
    expect(summary).toBe(linesOf(text).map(summaryOf).join('\n'));
  });

  it('progressive: a lone turn still rejected is sent again without context', async () => {
    const text = transcript(2, 40);
    const { calls, summary } = await run(text, {
      flavor: { maxNewTurns: 1 },
      reject: (call) => call.context.length > 0,
    });
    expect(calls.map((call) => [call.turns.length, call.context.length])).toEqual([
      [1, 0],
      [1, 1],
      [1, 0],
    ]);
    expect(summary).toBe(linesOf(text).map(summaryOf).join('\n'));
  });

  it('progressive: a lone turn rejected without context is split in halves, no text lost', async () => {
    const text = 'A : one two three four five six seven eight nine ten. Eleven twelve.';
    const isTooLong = (call: Call) => call.turns.some((line) => wordTokenizer.count(line) > 8);
    const { calls, checkpoints } = await run(text, { reject: isTooLong });
    expect(calls[0]?.turns).toEqual([text]);
    const accepted = calls.filter((call) => !isTooLong(call));
    expect(accepted.length).toBeGreaterThan(1);
    const texts = accepted.flatMap((call) => call.turns).map((line) => line.replace(/^A : /, ''));
    expect(texts.join(' ')).toBe('one two three four five six seven eight nine ten. Eleven twelve.');
    // The split turns are saved, so a resumed job sends the same pieces.
    expect(checkpoints.at(-1)).toMatchObject({ kind: 'progressive', turns: expect.any(Array) as unknown });
  });

  it('map: a rejected batch is split in two, then a lone turn in halves', async () => {
    const text = ['A : one two three', 'B : four five six seven eight nine ten eleven twelve'].join('\n');
    const { calls, summary } = await run(text, {
      fields: 1,
      reject: (call) => call.turns.length > 1 || call.turns.some((line) => wordTokenizer.count(line) > 8),
    });
    expect(calls[0]?.turns).toHaveLength(2);
    const accepted = calls.filter(
      (call) => call.turns.length === 1 && call.turns.every((line) => wordTokenizer.count(line) <= 8),
    );
    expect(accepted.map((call) => call.turns[0]?.split(' : ')[1]).join(' ')).toBe(
      'one two three four five six seven eight nine ten eleven twelve',
    );
    expect(summary.split('\n')).toHaveLength(accepted.length);
  });

  it('a turn that cannot be split any more reports the rejection itself', async () => {
    await expect(run('A : indivisible', { reject: () => true })).rejects.toMatchObject({
      code: 'CONTEXT_LENGTH',
    });
  });
});

describe('summarize: reduce', () => {
  /**
   * The fake LLM marks each line with the reduce level that produced it (`L0` for the map step),
   * and `shrink` decides how the words of a group change; a call's level is its input's plus one.
   */
  const levelled =
    (shrink: (words: string[][]) => string[][]) =>
    (call: Call): string => {
      if (!call.prompt.startsWith('REDUCE\n')) return call.turns.map((line) => `L0 ${line}`).join('\n');
      const lines = call.prompt.split('\n').slice(1);
      const level = Number(lines[0]?.split(' ')[0]?.slice(1)) + 1;
      return shrink(lines.map((line) => line.split(' ').slice(1)))
        .map((words) => `L${level} ${words.join(' ')}`)
        .join('\n');
    };
  const reduceInputLevels = (calls: Call[]) =>
    calls
      .filter((call) => call.prompt.startsWith('REDUCE\n'))
      .map((call) => Number(call.prompt.split('\n')[1]?.split(' ')[0]?.slice(1)));

  /** 40 turns of 6 words in map mode with a reduce: 10 batches, then several reduce levels. */
  const mapReduceInput = (maxParallelCalls: number): SummarizeInput => ({
    text: transcript(40, 6),
    fields: 1,
    flavor: flavor({ reduceSummary: true }),
    template: MAP,
    reduceTemplate: REDUCE,
    tokenizer: wordTokenizer,
    maxParallelCalls,
    checkpoint: undefined,
  });

  it('stops after one call when one group holds the summary', async () => {
    const { calls, summary } = await run(transcript(6), {
      flavor: { reduceSummary: true },
      answer: levelled(() => [['merged']]),
    });
    expect(reduceInputLevels(calls)).toEqual([0]);
    expect(summary).toBe('L1 merged');
  });

  it('reduces level after level in budget-sized groups until one call holds it', async () => {
    // 40 lines of 9 words: over the ~100-word budget, so several groups, then one.
    const { calls, summary } = await run(transcript(40, 6), {
      fields: 1,
      flavor: { reduceSummary: true },
      answer: levelled(() => [['merged']]),
    });
    const levels = reduceInputLevels(calls);
    expect(levels.filter((level) => level === 0).length).toBeGreaterThan(1);
    expect(levels.filter((level) => level === 1)).toEqual([1]);
    expect(summary).toBe('L2 merged');
  });

  it('stops after a level that does not shrink the text', async () => {
    const { calls, summary } = await run(transcript(40, 6), {
      fields: 1,
      flavor: { reduceSummary: true },
      answer: levelled((groupWords) => groupWords),
    });
    const levels = reduceInputLevels(calls);
    expect(levels.length).toBeGreaterThan(1);
    expect(new Set(levels)).toEqual(new Set([0]));
    expect(summary.split('\n')).toHaveLength(40);
  });

  it('stops at the level cap (8 levels) when every level shrinks a little but never fits', async () => {
    const { calls, summary } = await run(transcript(60, 8), {
      fields: 1,
      flavor: { reduceSummary: true },
      // One word fewer per group: always shrinking, never fitting in one group.
      answer: levelled((groupWords) =>
        groupWords.map((words, index) => (index === 0 ? words.slice(0, -1) : words)),
      ),
    });
    expect(Math.max(...reduceInputLevels(calls))).toBe(7);
    expect(summary.split('\n').every((line) => line.startsWith('L8 '))).toBe(true);
  });

  it('a reduce prompt with two placeholders gets an empty first one', async () => {
    const prompts: string[] = [];
    const input: SummarizeInput = {
      text: transcript(3),
      fields: 1,
      flavor: flavor({ reduceSummary: true }),
      template: MAP,
      reduceTemplate: 'REDUCE [{}]\n{}',
      tokenizer: wordTokenizer,
      maxParallelCalls: 1,
      checkpoint: undefined,
    };
    await summarize(input, {
      complete: async (prompt) => {
        prompts.push(prompt);
        return prompt.startsWith('REDUCE') ? 'merged' : parsePrompt(prompt).turns.map(summaryOf).join('\n');
      },
      saveCheckpoint: async () => undefined,
      reportProgress: async () => undefined,
      throwIfCancelled: async () => undefined,
    });
    expect(prompts.at(-1)?.startsWith('REDUCE []\n= S0 : ')).toBe(true);
  });

  it('runs the groups of a level at once under the cap and keeps their answers in group order', async () => {
    const cap = 3;
    let inFlight = 0;
    let mostInFlight = 0;
    const levelOneInputs: string[] = [];
    const input = mapReduceInput(cap);
    const summary = await summarize(input, {
      complete: async (prompt) => {
        if (!prompt.startsWith('REDUCE\n'))
          return parsePrompt(prompt)
            .turns.map((line) => `L0 ${line}`)
            .join('\n');
        const lines = prompt.split('\n').slice(1);
        const level = lines[0]?.split(' ')[0] ?? '';
        if (level === 'L1') levelOneInputs.push(...lines);
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        // Later groups answer first: the order of the answers must not follow the clock.
        const lastTurn = Number(/t(\d+)/.exec(lines.at(-1) ?? '')?.[1] ?? 0);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 40 - lastTurn)));
        inFlight -= 1;
        const next = `L${Number(level.slice(1)) + 1}`;
        // Level 0 groups keep their first line only; level 1 merges everything.
        return level === 'L0' ? `${next} ${lines[0]?.split(' ').slice(1).join(' ') ?? ''}` : `${next} merged`;
      },
      saveCheckpoint: async () => undefined,
      reportProgress: async () => undefined,
      throwIfCancelled: async () => undefined,
    });
    expect(mostInFlight).toBe(cap);
    const firstTurnOfEachGroup = levelOneInputs.map((line) => Number(/t(\d+)/.exec(line)?.[1]));
    expect(firstTurnOfEachGroup.length).toBeGreaterThan(cap);
    expect(firstTurnOfEachGroup).toEqual([...firstTurnOfEachGroup].sort((a, b) => a - b));
    expect(summary).toBe('L2 merged');
  });

  /** The level of a call: 0 for a map batch, else one more than its input lines' level. */
  const levelOf = (prompt: string) =>
    prompt.startsWith('REDUCE\n') ? Number(prompt.split('\n')[1]?.split(' ')[0]?.slice(1)) + 1 : 0;

  it('sends a group as soon as its lines are known, beside the calls of the levels before it, with the groups and answers of levels run one after another', async () => {
    // Each reduce group keeps every other line: several levels, over 10 map batches.
    const answer = levelled((groupWords) => groupWords.filter((_, index) => index % 2 === 0));
    const runWith = async (cap: number) => {
      const inFlight: number[] = [];
      let callsBesideLowerLevels = 0;
      const reducePrompts: string[] = [];
      const summary = await summarize(mapReduceInput(cap), {
        complete: async (prompt) => {
          const level = levelOf(prompt);
          if (inFlight.slice(0, level).some((count) => count > 0)) callsBesideLowerLevels += 1;
          inFlight[level] = (inFlight[level] ?? 0) + 1;
          if (level > 0) reducePrompts.push(prompt);
          // Uneven durations: the answers do not come back in the order the calls left.
          await new Promise((resolve) => setTimeout(resolve, 1 + (prompt.length % 4)));
          inFlight[level] = (inFlight[level] ?? 1) - 1;
          return answer(parsePrompt(prompt));
        },
        saveCheckpoint: async () => undefined,
        reportProgress: async () => undefined,
        throwIfCancelled: async () => undefined,
      });
      return { summary, reducePrompts, callsBesideLowerLevels };
    };
    const oneSlot = await runWith(1);
    const threeSlots = await runWith(3);
    expect(oneSlot.callsBesideLowerLevels).toBe(0);
    // 10 map batches in 3 slots: the last one runs beside the first reduce groups.
    expect(threeSlots.callsBesideLowerLevels).toBeGreaterThan(0);
    expect(new Set(oneSlot.reducePrompts.map(levelOf)).size).toBeGreaterThanOrEqual(3);
    expect([...threeSlots.reducePrompts].sort()).toEqual([...oneSlot.reducePrompts].sort());
    expect(threeSlots.summary).toBe(oneSlot.summary);
  });

  it('drops a level started before the one before it turned out not to shrink: its calls are aborted, the job ends with that level', async () => {
    // Level 1 does not shrink (same words, relabelled); its last group is slow, so a level-2 group
    // whose lines are known starts in a free slot meanwhile.
    const answer = levelled((groupWords) => groupWords);
    const abortedLevels: number[] = [];
    const calledLevels: number[] = [];
    const summary = await summarize(mapReduceInput(3), {
      complete: (prompt, _promptTokens, signal) =>
        new Promise<string>((resolve, reject) => {
          const level = levelOf(prompt);
          calledLevels.push(level);
          const isSlow = level === 1 && prompt.includes('t39');
          const timer = setTimeout(() => resolve(answer(parsePrompt(prompt))), isSlow ? 50 : 1);
          signal?.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              abortedLevels.push(level);
              reject(new InferenceError('cancelled', 'CANCELLED'));
            },
            { once: true },
          );
        }),
      saveCheckpoint: async () => undefined,
      reportProgress: async () => undefined,
      throwIfCancelled: async () => undefined,
    });
    expect(calledLevels).toContain(2);
    expect(abortedLevels.length).toBeGreaterThan(0);
    // Only calls of the levels after the one that did not shrink (a dropped level's own followers too).
    expect(abortedLevels.every((level) => level >= 2)).toBe(true);
    expect(summary.split('\n')).toHaveLength(40);
    expect(summary.split('\n').every((line) => line.startsWith('L1 '))).toBe(true);
  });
});

describe('summarize: a real transcript, no text lost or duplicated', () => {
  const text = readFileSync(join(__dirname, '../../test/fixtures/transcripts/ES2004a.txt'), 'utf8');

  it.each([
    ['progressive', 2],
    ['map', 1],
  ] as const)('%s', async (_mode, fields) => {
    const { calls } = await run(text, { fields, flavor: { createNewTurnAfter: 30, maxNewTurns: 9 } });
    const sentText = calls
      .flatMap((call) => call.turns)
      .map((line) => line.replace(/^[^:]+: ?/, ''))
      .join(' ')
      .replace(/\s+/g, ' ');
    const originalText = splitTurns(text)
      .map((turn) => turn.text)
      .join(' ')
      .replace(/\s+/g, ' ');
    expect(sentText).toBe(originalText);
  });
});

describe('summarize: a job that fails or is cancelled stops calling the LLM', () => {
  /** Hooks whose calls stay in flight until released, each with the signal summarize() gave it. */
  function heldCalls(options: { failingCall?: number; cancelSignal?: AbortSignal } = {}) {
    const calls: { prompt: string; signal: AbortSignal | undefined; release: () => void }[] = [];
    const hooks: SummarizeHooks = {
      complete: (prompt, _promptTokens, signal) =>
        new Promise<string>((resolve, reject) => {
          const index = calls.length;
          calls.push({
            prompt,
            signal,
            release: () => resolve(parsePrompt(prompt).turns.map(summaryOf).join('\n')),
          });
          if (index === options.failingCall) {
            setImmediate(() =>
              reject(new InferenceError('LLM API rejected the request (400)', 'REQUEST_REJECTED')),
            );
            return;
          }
          signal?.addEventListener('abort', () => reject(new InferenceError('cancelled', 'CANCELLED')), {
            once: true,
          });
        }),
      saveCheckpoint: async () => undefined,
      reportProgress: async () => undefined,
      throwIfCancelled: async () => undefined,
      ...(options.cancelSignal ? { cancelSignal: options.cancelSignal } : {}),
    };
    return { calls, hooks };
  }

  const mapInput = (maxParallelCalls: number): SummarizeInput => ({
    text: transcript(40),
    fields: 1,
    flavor: flavor(),
    template: MAP,
    reduceTemplate: REDUCE,
    tokenizer: wordTokenizer,
    maxParallelCalls,
    checkpoint: undefined,
  });

  it('map: the first non-retryable error aborts the calls in flight and sends no new one', async () => {
    const { calls, hooks } = heldCalls({ failingCall: 1 });
    await expect(summarize(mapInput(4), hooks)).rejects.toMatchObject({ code: 'REQUEST_REJECTED' });
    expect(calls).toHaveLength(4); // the four dispatched at once, none after the failure
    const others = calls.filter((_, index) => index !== 1);
    expect(others.every((call) => call.signal?.aborted === true)).toBe(true);
  });

  it.each([
    ['map', 1],
    ['progressive', 2],
  ] as const)('%s: a cancellation during a call aborts it and the job stops', async (_mode, fields) => {
    const cancel = new AbortController();
    const { calls, hooks } = heldCalls({ cancelSignal: cancel.signal });
    const input = { ...mapInput(2), fields, template: fields === 2 ? PROGRESSIVE : MAP };
    const running = summarize(input, hooks);
    await new Promise((resolve) => setImmediate(resolve));
    const inFlight = calls.length;
    expect(inFlight).toBeGreaterThan(0);
    cancel.abort();
    await expect(running).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(calls).toHaveLength(inFlight);
    expect(calls.every((call) => call.signal?.aborted === true)).toBe(true);
  });
});

describe('summarize: a progressive batch’s cancel check', () => {
  const progressiveInput: SummarizeInput = {
    text: transcript(12),
    fields: 2,
    flavor: flavor(),
    template: PROGRESSIVE,
    reduceTemplate: REDUCE,
    tokenizer: wordTokenizer,
    maxParallelCalls: 1,
    checkpoint: undefined,
  };

  it('goes out once the batch’s call has been sent, not before it', async () => {
    const events: string[] = [];
    await summarize(progressiveInput, {
      complete: async (prompt) => {
        events.push('call');
        await new Promise((resolve) => setImmediate(resolve));
        return parsePrompt(prompt).turns.map(summaryOf).join('\n');
      },
      saveCheckpoint: async () => undefined,
      reportProgress: async () => undefined,
      throwIfCancelled: async () => {
        events.push('check');
      },
    });
    expect(events).toEqual(['call', 'check', 'call', 'check', 'call', 'check']);
  });

  it('aborts the call it went out beside when it throws, and the job fails as it says', async () => {
    const signals: (AbortSignal | undefined)[] = [];
    const running = summarize(progressiveInput, {
      complete: (_prompt, _promptTokens, signal) => {
        signals.push(signal);
        return new Promise<string>((_resolve, reject) =>
          signal?.addEventListener('abort', () => reject(new InferenceError('cancelled', 'CANCELLED')), {
            once: true,
          }),
        );
      },
      saveCheckpoint: async () => undefined,
      reportProgress: async () => undefined,
      throwIfCancelled: async () => {
        throw new Error('job cancelled');
      },
    });
    await expect(running).rejects.toThrow('job cancelled');
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(true);
  });
});

describe('summarize: the first progress report', () => {
  it.each([
    ['progressive', 2],
    ['map', 1],
  ] as const)('%s: leaves once the first call has been sent, not before it', async (_mode, fields) => {
    const events: string[] = [];
    await summarize(
      {
        text: transcript(12),
        fields,
        flavor: flavor(),
        template: fields === 2 ? PROGRESSIVE : MAP,
        reduceTemplate: REDUCE,
        tokenizer: wordTokenizer,
        maxParallelCalls: 1,
        checkpoint: undefined,
      },
      {
        complete: async (prompt) => {
          events.push('call');
          await new Promise((resolve) => setImmediate(resolve));
          return parsePrompt(prompt).turns.map(summaryOf).join('\n');
        },
        saveCheckpoint: async () => undefined,
        reportProgress: async (turnsDone, totalTurns) => {
          events.push(`report ${turnsDone}/${totalTurns}`);
        },
        throwIfCancelled: async () => undefined,
      },
    );
    // The state it reports is the job's before that call.
    expect(events.slice(0, 2)).toEqual(['call', 'report 0/12']);
  });
});

describe('summarize: checkpoints are saved off the call path', () => {
  /** A checkpoint store that holds every save until `release()`, counting saves in flight. */
  function slowStore() {
    const saves: { checkpoint: Checkpoint; release: () => void }[] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    let finished = 0;
    const saveCheckpoint = (checkpoint: Checkpoint) =>
      new Promise<void>((resolve) => {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        saves.push({
          checkpoint: structuredClone(checkpoint),
          release: () => {
            inFlight -= 1;
            finished += 1;
            resolve();
          },
        });
      });
    return {
      saves,
      saveCheckpoint,
      get mostInFlight() {
        return mostInFlight;
      },
      get finished() {
        return finished;
      },
    };
  }
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  const answered = (checkpoint: Checkpoint | undefined) =>
    checkpoint?.kind === 'map' ? checkpoint.answers.filter((answer) => answer !== null).length : -1;

  function hooksWith(store: ReturnType<typeof slowStore>, calls: string[]): SummarizeHooks {
    return {
      complete: async (prompt) => {
        calls.push(prompt);
        await tick();
        return parsePrompt(prompt).turns.map(summaryOf).join('\n');
      },
      saveCheckpoint: store.saveCheckpoint,
      reportProgress: async () => undefined,
      throwIfCancelled: async () => undefined,
    };
  }

  const input = (fields: 1 | 2): SummarizeInput => ({
    text: transcript(40),
    fields,
    flavor: flavor(),
    template: fields === 2 ? PROGRESSIVE : MAP,
    reduceTemplate: REDUCE,
    tokenizer: wordTokenizer,
    maxParallelCalls: 2,
    checkpoint: undefined,
  });

  it.each([
    ['map', 1],
    ['progressive', 2],
  ] as const)('%s: every batch is sent while the first save is still running', async (_mode, fields) => {
    const store = slowStore();
    const calls: string[] = [];
    const running = summarize(input(fields), hooksWith(store, calls));
    for (let index = 0; index < 200 && calls.length < 10; index += 1) await tick();
    expect(calls).toHaveLength(10);
    // 40 turns of 4 a batch: all 10 calls made, and the first save has not ended.
    expect(store.finished).toBe(0);
    expect(store.saves.length).toBe(1);
    let isDone = false;
    void running.then(() => (isDone = true));
    // The job ends only once the saves asked for have ended.
    for (let index = 0; index < 3; index += 1) await tick();
    expect(isDone).toBe(false);
    store.saves[0]?.release();
    for (let index = 0; index < 20 && store.saves.length < 2; index += 1) await tick();
    for (let index = 0; index < 3; index += 1) await tick();
    expect(isDone).toBe(false);
    store.saves[1]?.release();
    await expect(running).resolves.toBe(linesOf(transcript(40)).map(summaryOf).join('\n'));
    // Ten answers, two saves: the nine finished during the first save merged into one.
    expect(store.saves).toHaveLength(2);
  });

  it('map: saves never overlap, come in order, are fewer than the batches, and the last holds every answer', async () => {
    const store = slowStore();
    const calls: string[] = [];
    const hooks = hooksWith(store, calls);
    const slowSaves: SummarizeHooks = {
      ...hooks,
      saveCheckpoint: async (checkpoint) => {
        const saving = store.saveCheckpoint(checkpoint);
        const save = store.saves.at(-1);
        setTimeout(() => save?.release(), 5);
        await saving;
      },
    };
    const summary = await summarize({ ...input(1), maxParallelCalls: 4 }, slowSaves);
    expect(summary).toBe(linesOf(transcript(40)).map(summaryOf).join('\n'));
    expect(store.mostInFlight).toBe(1);
    expect(store.saves.length).toBeLessThan(calls.length);
    expect(store.finished).toBe(store.saves.length);
    const counts = store.saves.map((save) => answered(save.checkpoint));
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBe(calls.length);
  });

  it.each([
    ['map', 1],
    ['progressive', 2],
  ] as const)('%s: a save that fails fails the job', async (_mode, fields) => {
    const calls: string[] = [];
    const failing: SummarizeHooks = {
      ...hooksWith(slowStore(), calls),
      saveCheckpoint: async () => {
        throw new Error('Redis is away');
      },
    };
    await expect(summarize(input(fields), failing)).rejects.toThrow('Redis is away');
    expect(calls.length).toBeLessThan(10);
  });
});
