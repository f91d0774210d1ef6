import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOKENIZER_FAMILIES } from '../tokenizers/tokenizer-resolution.util';
import { TokenizersService } from '../tokenizers/tokenizers.service';
import { planBatches, takeBatch } from './batches.util';
import { batchTokenBudget } from './budget.util';
import { splitTurns, turnLine } from './turns.util';
import { splitLongTurns, splitTurn } from './virtual-turns.util';

const transcripts = ['ES2004a.txt', 'education_4.txt', 'Bmr006.txt'].map((file) => ({
  file,
  text: readFileSync(join(__dirname, '../../test/fixtures/transcripts', file), 'utf8'),
}));
const tokenizers = new TokenizersService();
/** Counts characters: makes the splitting rules easy to read in tables. */
const characters = { count: (text: string) => text.length };
const normalise = (text: string) => text.replace(/\s+/g, ' ').trim();

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

  it('refuses instead of looping when a turn alone exceeds the budget', () => {
    expect(() => planBatches([5, 50], 20, 9, 1)).toThrow(
      'turn 1 (50 tokens) does not fit a batch budget of 20 tokens',
    );
  });
});

describe('splitTurn (counting characters)', () => {
  it.each([
    ['short', 20, ['short']],
    ['One. Two. Three.', 13, ['One. Two.', 'Three.']],
    ['One. Two. Three.', 12, ['One.', 'Two.', 'Three.']],
    ['One! Two? Three…', 13, ['One! Two?', 'Three…']],
    ['aaaa bbbb cccc dddd', 13, ['aaaa bbbb', 'cccc dddd']],
    ['abcdefghijklmnop', 9, ['abcde', 'fghij', 'klmno', 'p']],
  ])('%p with a line limit of %i', (text, limit, expected) => {
    // The line is "A : <text>": 4 characters of prefix.
    expect(splitTurn({ speaker: 'A', text }, limit, characters).map((turn) => turn.text)).toEqual(expected);
  });

  it('makes progress even when the speaker prefix alone is over the limit', () => {
    const pieces = splitTurn({ speaker: 'A very long speaker name', text: 'abc' }, 5, characters);
    expect(pieces.map((turn) => turn.text).join('')).toBe('abc');
  });

  it('never cuts a surrogate pair', () => {
    const pieces = splitTurn({ speaker: 'A', text: '😀😀😀😀' }, 7, characters);
    expect(pieces.every((turn) => !/[\ud800-\udbff]$/.test(turn.text))).toBe(true);
    expect(pieces.map((turn) => turn.text).join('')).toBe('😀😀😀😀');
  });
});

describe.each(TOKENIZER_FAMILIES)('invariants over the shared transcripts with %s', (family) => {
  const tokenizer = tokenizers.family(family);
  const createNewTurnAfter = 120;
  const budget = 1500;
  const maxNewTurns = 9;

  it.each(transcripts)(
    '$file: virtual turns fit, and nothing is lost, duplicated or reordered',
    ({ text }) => {
      for (const turn of splitTurns(text)) {
        const pieces = splitTurn(turn, createNewTurnAfter, tokenizer);
        for (const piece of pieces) {
          expect(piece.speaker).toBe(turn.speaker);
          expect(tokenizer.count(turnLine(piece))).toBeLessThanOrEqual(createNewTurnAfter);
        }
        expect(normalise(pieces.map((piece) => piece.text).join(' '))).toBe(normalise(turn.text));
      }
    },
  );

  it.each(transcripts)(
    '$file: no assembled batch is over budget; batches cover every turn in order',
    ({ text }) => {
      const virtualTurns = splitLongTurns(splitTurns(text), createNewTurnAfter, tokenizer);
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
});
