import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOKENIZER_FAMILIES } from '../tokenizers/tokenizer-resolution.util';
import { TokenizersService } from '../tokenizers/tokenizers.service';
import {
  batchEnds,
  batchesFromEnds,
  batchTokens,
  type BatchRange,
  planBatches,
  planGreedyBatches,
  takeBatch,
} from './batches.util';
import { batchTokenBudget } from './budget.util';
import { splitTurns, turnLine } from './turns.util';
import { splitSentences } from './sentences.util';
import { splitLongTurns, splitTurn } from './virtual-turns.util';

const fixtures = join(__dirname, '../../test/fixtures');
const readTranscripts = (directory: string) =>
  readdirSync(join(fixtures, directory))
    .filter((file) => file.endsWith('.txt'))
    .map((file) => ({
      file: `${directory}/${file}`,
      text: readFileSync(join(fixtures, directory, file), 'utf8'),
    }));
/**
 * Real English meetings at the usual `createNewTurnAfter`, and short meetings in French, Spanish,
 * Polish, Russian, Chinese, Japanese, Arabic and Hindi also at a limit so small that sentences
 * are cut at word and grapheme boundaries.
 */
const transcripts = [
  ...readTranscripts('transcripts').map((transcript) => ({ ...transcript, limits: [120] })),
  ...readTranscripts('transcripts-multilingual').map((transcript) => ({ ...transcript, limits: [120, 24] })),
];
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const isOneGrapheme = (text: string) => [...graphemes.segment(text)].length === 1;
const tokenizers = new TokenizersService();

/**
 * Asserts the contract of virtual turns: `pieces` are `text` cut in order, each piece non-empty
 * and without whitespace at its ends, and only whitespace between two pieces (the text's own,
 * dropped at the cut). So `pieces` joined with the whitespace that was at each cut is `text`
 * exactly: nothing is lost, added, duplicated or reordered. Returns where each piece ends.
 */
function expectCutsOf(text: string, pieces: readonly string[]): number[] {
  const ends: number[] = [];
  const separators: string[] = [];
  let position = 0;
  for (const piece of pieces) {
    const start = text.indexOf(piece, position);
    expect(piece).not.toBe('');
    expect(piece.trim()).toBe(piece);
    expect(start).toBeGreaterThanOrEqual(position);
    separators.push(text.slice(position, start));
    position = start + piece.length;
    ends.push(position);
  }
  expect(separators[0]).toBe('');
  expect(separators.slice(1).every((separator) => /^\s*$/u.test(separator))).toBe(true);
  expect(pieces.map((piece, index) => (separators[index] ?? '') + piece).join('')).toBe(text);
  return ends;
}

/** Where each sentence of `text` ends, whitespace after it excluded. */
function sentenceEnds(text: string): Set<number> {
  const ends = new Set<number>();
  let offset = 0;
  for (const sentence of splitSentences(text)) {
    ends.add(offset + sentence.trimEnd().length);
    offset += sentence.length;
  }
  return ends;
}

describe('batchTokenBudget', () => {
  it.each([
    [{ totalContextLength: 128000, maxGenerationLength: 2048, promptTokens: 100, contextTokens: 50 }, 109373],
    [{ totalContextLength: 4096, maxGenerationLength: 512, promptTokens: 200, contextTokens: 0 }, 2916],
    [{ totalContextLength: 1000, maxGenerationLength: 900, promptTokens: 200, contextTokens: 0 }, 0],
  ])('%p -> %i', (input, expected) => {
    expect(batchTokenBudget(input)).toBe(expected);
  });
});

describe('takeBatch and planBatches', () => {
  it.each([
    [[10, 10, 10, 10], 0, 100, 9, 1, { start: 0, end: 4 }],
    [[10, 10, 10, 10], 0, 32, 9, 1, { start: 0, end: 3 }],
    [[10, 10, 10, 10], 0, 31, 9, 1, { start: 0, end: 2 }],
    [[10, 10, 10, 10], 1, 100, 2, 1, { start: 1, end: 3 }],
    [[50, 10], 0, 40, 9, 1, { start: 0, end: 0 }],
  ])(
    'takeBatch(%p, %i, budget %i, max %i, joiner %i)',
    (counts, start, budget, maxTurns, joiner, expected) => {
      expect(takeBatch(counts, start, budget, maxTurns, joiner)).toEqual(expected);
    },
  );

  it('plans consecutive batches covering every turn once', () => {
    expect(planBatches([5, 5, 5, 5, 5], 11, 9, 1)).toEqual([
      { start: 0, end: 2 },
      { start: 2, end: 4 },
      { start: 4, end: 5 },
    ]);
  });

  it.each([planBatches, planGreedyBatches])(
    '%p refuses instead of looping when a turn alone exceeds the budget',
    (plan) => {
      expect(() => plan([5, 50], 20, 9, 1)).toThrow(
        'turn 1 (50 tokens) does not fit a batch budget of 20 tokens',
      );
    },
  );

  it.each([
    // counts, budget, maxTurns, joiner, where each greedy batch ends, where each balanced batch ends
    [[5, 5, 5, 5, 5], 11, 9, 1, [2, 4, 5], [2, 4, 5]],
    [[10, 10, 10, 10, 10], 40, 9, 0, [4, 5], [3, 5]],
    [[30, 30, 30, 5], 65, 9, 0, [2, 4], [2, 4]],
    [[1, 1, 1, 1, 1, 1, 1], 100, 3, 0, [3, 6, 7], [3, 6, 7]],
    [[8, 1, 1, 1, 1, 1, 1, 1, 8], 16, 9, 0, [8, 9], [5, 9]],
    [[], 10, 9, 1, [], []],
  ])(
    'planGreedyBatches and planBatches(%p, budget %i, max %i, joiner %i)',
    (counts, budget, maxTurns, joiner, greedyEnds, balancedEnds) => {
      const ends = (batches: readonly BatchRange[]) => batches.map((batch) => batch.end);
      expect(ends(planGreedyBatches(counts, budget, maxTurns, joiner))).toEqual(greedyEnds);
      expect(ends(planBatches(counts, budget, maxTurns, joiner))).toEqual(balancedEnds);
      // As a split thread sends a plan back: its ends, and the same ranges from them.
      const plan = planBatches(counts, budget, maxTurns, joiner);
      expect([...batchEnds(plan)]).toEqual(balancedEnds);
      expect(batchesFromEnds(batchEnds(plan))).toEqual(plan);
      for (const [from, to] of [
        [0, 1],
        [1, 3],
        [2, plan.length],
      ]) {
        expect(batchesFromEnds(batchEnds(plan), from, to)).toEqual(plan.slice(from, to));
      }
    },
  );
});

/** Consecutive, non-empty ranges from 0 to `turnCount`: every turn exactly once, in order. */
function expectEveryTurnOnceInOrder(batches: readonly BatchRange[], turnCount: number): void {
  expect(batches[0]?.start ?? 0).toBe(0);
  expect(batches.at(-1)?.end ?? 0).toBe(turnCount);
  batches.forEach((batch, index) => {
    expect(batch.end).toBeGreaterThan(batch.start);
    if (index > 0) expect(batch.start).toBe(batches[index - 1]?.end);
  });
}

const biggestBatch = (counts: readonly number[], batches: readonly BatchRange[], joiner: number) =>
  Math.max(0, ...batches.map((batch) => batchTokens(counts, batch, joiner)));

describe.each(TOKENIZER_FAMILIES)('invariants over the shared transcripts with %s', (family) => {
  const tokenizer = tokenizers.family(family);
  const budget = 1500;
  const maxNewTurns = 9;

  it.each(transcripts)(
    '$file: virtual turns fit, keep their speaker and prefix; nothing is lost, added, duplicated or reordered',
    ({ text, limits }) => {
      for (const createNewTurnAfter of limits) {
        for (const turn of splitTurns(text)) {
          const pieces = splitTurn(turn, createNewTurnAfter, tokenizer);
          for (const piece of pieces) {
            expect(piece.speaker).toBe(turn.speaker);
            expect(piece.prefix).toBe(turn.prefix);
            // Over the limit only when the prefix and one grapheme already are (Hindi prefixes in p50k_base).
            const tokens = tokenizer.count(turnLine(piece));
            if (tokens > createNewTurnAfter) expect(isOneGrapheme(piece.text)).toBe(true);
          }
          const texts = pieces.map((piece) => piece.text);
          if (turn.text === '') expect(pieces).toEqual([turn]);
          else expectCutsOf(turn.text, texts);
        }
      }
    },
  );

  it.each(transcripts)(
    '$file: when every sentence fits a line, long turns are cut only where a sentence ends',
    ({ text }) => {
      for (const turn of splitTurns(text)) {
        const sentences = splitSentences(turn.text);
        if (sentences.length < 2) continue;
        // The smallest limit that holds every sentence alone.
        const limit = Math.max(
          ...sentences.map((sentence) => tokenizer.count(turn.prefix + sentence.trimEnd())),
        );
        const pieces = splitTurn(turn, limit, tokenizer).map((piece) => piece.text);
        if (tokenizer.count(turnLine(turn)) > limit) expect(pieces.length).toBeGreaterThan(1);
        const ends = sentenceEnds(turn.text);
        for (const end of expectCutsOf(turn.text, pieces)) expect(ends.has(end)).toBe(true);
      }
    },
  );

  it.each(transcripts)(
    '$file: no assembled batch is over budget; batches cover every turn in order',
    ({ text }) => {
      const virtualTurns = splitLongTurns(splitTurns(text), 120, tokenizer);
      const lines = virtualTurns.map(turnLine);
      const batches = planBatches(
        lines.map((line) => tokenizer.count(line)),
        budget,
        maxNewTurns,
        tokenizer.joinerTokens,
      );
      expect(batches[0]?.start).toBe(0);
      expect(batches.at(-1)?.end).toBe(lines.length);
      batches.forEach((batch, index) => {
        expect(batch.end - batch.start).toBeGreaterThan(0);
        expect(batch.end - batch.start).toBeLessThanOrEqual(maxNewTurns);
        if (index > 0) expect(batch.start).toBe(batches[index - 1]?.end);
        expect(tokenizer.count(lines.slice(batch.start, batch.end).join('\n'))).toBeLessThanOrEqual(budget);
      });
    },
  );

  it.each(transcripts)(
    "$file: balanced batches: as many as greedy, none bigger than greedy's biggest, every turn once in order",
    ({ text }) => {
      const counts = splitLongTurns(splitTurns(text), 120, tokenizer).map((turn) =>
        tokenizer.count(turnLine(turn)),
      );
      for (const [batchBudget, maxTurns] of [
        [budget, maxNewTurns],
        [2000, 100],
        [400, 4],
      ] as const) {
        const greedy = planGreedyBatches(counts, batchBudget, maxTurns, tokenizer.joinerTokens);
        const balanced = planBatches(counts, batchBudget, maxTurns, tokenizer.joinerTokens);
        expect(balanced).toHaveLength(greedy.length);
        expectEveryTurnOnceInOrder(balanced, counts.length);
        expectEveryTurnOnceInOrder(greedy, counts.length);
        for (const batch of balanced) {
          expect(batch.end - batch.start).toBeLessThanOrEqual(maxTurns);
          expect(batchTokens(counts, batch, tokenizer.joinerTokens)).toBeLessThanOrEqual(batchBudget);
        }
        expect(biggestBatch(counts, balanced, tokenizer.joinerTokens)).toBeLessThanOrEqual(
          biggestBatch(counts, greedy, tokenizer.joinerTokens),
        );
      }
    },
  );
});
