import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitTurns, type Turn, turnLine } from './turns.util';
import { splitAndCountTurns, splitLongTurns, splitTurn } from './virtual-turns.util';

/** Counts characters: makes the splitting rules easy to read in tables. */
const characters = { count: (text: string) => text.length };
const turnOf = (prefix: string, text: string): Turn => ({
  speaker: prefix.replace(/\s*[:：]\s*$/u, ''),
  prefix,
  text,
});
const multilingual = (file: string) =>
  readFileSync(join(__dirname, '../../test/fixtures/transcripts-multilingual', file), 'utf8');
/** The longest turn of a fixture. */
const longestTurn = (file: string) =>
  splitTurns(multilingual(file)).reduce((longest, turn) =>
    turn.text.length > longest.text.length ? turn : longest,
  );

describe('splitTurn (counting characters)', () => {
  it.each([
    ['short', 20, ['short']],
    ['One. Two. Three.', 13, ['One. Two.', 'Three.']],
    ['One. Two. Three.', 12, ['One.', 'Two.', 'Three.']],
    ['One! Two? Three…', 13, ['One! Two?', 'Three…']],
    ['One.   Two.\tThree.', 13, ['One.', 'Two.', 'Three.']],
    ['aaaa bbbb cccc dddd', 13, ['aaaa bbbb', 'cccc dddd']],
    ['aaaa bbbb cccc dddd', 11, ['aaaa', 'bbbb', 'cccc', 'dddd']],
    ['abcdefghijklmnop', 9, ['abcde', 'fghij', 'klmno', 'p']],
    ["Yes. Dr. O'Brien agreed.", 23, ['Yes.', "Dr. O'Brien agreed."]],
    ['abcdefghij. Bb.', 12, ['abcdefgh', 'ij. Bb.']],
  ])('%j with a line limit of %i (prefix "A : ")', (text, limit, expected) => {
    const pieces = splitTurn(turnOf('A : ', text), limit, characters);
    expect(pieces.map((piece) => piece.text)).toEqual(expected);
    expect(pieces.every((piece) => piece.prefix === 'A : ' && piece.speaker === 'A')).toBe(true);
  });

  it.each([
    ['王经理：', '你好。大家都同意吗？是的。', 14, ['你好。大家都同意吗？', '是的。']],
    ['王经理：', '你好。大家都同意吗？是的。', 12, ['你好。', '大家都同意吗？', '是的。']],
    [
      '王经理：',
      '原计划是十一月初上市，但是供应商说包装材料要晚两个星期才能到。',
      24,
      ['原计划是十一月初上市，', '但是供应商说包装材料要晚两个星期才能到。'],
    ],
    ['田中：', '言っていました！「便利です。」と。', 16, ['言っていました！', '「便利です。」と。']],
    [
      'Hélène : ',
      'M. Lefèvre a dit : « on signe ! » Puis il est parti.',
      45,
      ['M. Lefèvre a dit : « on signe ! »', 'Puis il est parti.'],
    ],
    ['أحمد: ', 'هل نبدأ؟ نعم. سنبدأ غداً.', 20, ['هل نبدأ؟ نعم.', 'سنبدأ غداً.']],
    ['प्रिया: ', 'ठीक है। क्या आप सहमत हैं? हाँ।', 34, ['ठीक है। क्या आप सहमत हैं?', 'हाँ।']],
  ])('%s%s with a line limit of %i', (prefix, text, limit, expected) => {
    expect(splitTurn(turnOf(prefix, text), limit, characters).map((piece) => piece.text)).toEqual(expected);
  });

  it('keeps a speaker line with no text as it is, even when its prefix is over the limit', () => {
    const turn = turnOf('A very long speaker name : ', '');
    expect(splitTurn(turn, 5, characters)).toEqual([turn]);
  });

  it('makes progress, one grapheme per piece, when the prefix alone is over the limit', () => {
    const pieces = splitTurn(turnOf('A very long speaker name : ', 'ab😀'), 5, characters);
    expect(pieces.map((piece) => piece.text)).toEqual(['a', 'b', '😀']);
  });

  it.each([['😀😀😀😀'], ['e\u0301e\u0301e\u0301e\u0301'], ['नमस्ते नमस्ते']])(
    'never cuts a grapheme: %j',
    (text) => {
      const pieces = splitTurn(turnOf('A : ', text), 7, characters).map((piece) => piece.text);
      const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
      const clusters = [...graphemes.segment(text)].map((cluster) => cluster.segment);
      for (const piece of pieces) {
        expect([...graphemes.segment(piece)].every((cluster) => clusters.includes(cluster.segment))).toBe(
          true,
        );
      }
      expect(pieces.join('')).toBe(text.replace(/\s/gu, ''));
    },
  );
});

describe('splitTurn on long texts', () => {
  it.each([
    ['words and no punctuation (raw speech recognition)', 'word '.repeat(20_000).trim()],
    ['one sentence in Chinese', '我们明天开始讨论预算的问题，'.repeat(5_000)],
    ['many short sentences', 'Yes. '.repeat(20_000).trim()],
  ])('%s: counts each character a bounded number of times', (_case, text) => {
    let countedCharacters = 0;
    const tally = { count: (line: string) => ((countedCharacters += line.length), line.length) };
    const pieces = splitTurn(turnOf('A : ', text), 500, tally);
    expect(pieces.every((piece) => turnLine(piece).length <= 500)).toBe(true);
    expect(pieces.length).toBeGreaterThan(text.length / 500);
    expect(countedCharacters).toBeLessThan(16 * text.length);
  });

  it('a long run of initials is one sentence, found in linear time', () => {
    const text = 'A. '.repeat(20_000).trim();
    const startedAt = performance.now();
    expect(
      splitTurn(turnOf('A : ', text), 500, characters)
        .map((piece) => piece.text)
        .join(' '),
    ).toBe(text);
    expect(performance.now() - startedAt).toBeLessThan(2_000);
  });
});

describe('virtual turns of the multilingual fixtures (counting characters)', () => {
  // Each long turn is split in pieces of whole sentences: each piece ends a sentence.
  it.each([
    ['fr.txt', 200, /[.?!»]$/u],
    ['es.txt', 150, /[.?!]$/u],
    ['pl.txt', 150, /[.?!]$/u],
    ['ru.txt', 150, /[.?!]$/u],
    ['zh.txt', 50, /[。？！]$/u],
    ['ja.txt', 60, /[。？！]$/u],
    ['ar.txt', 120, /[.؟!]$/u],
    ['hi.txt', 150, /[।?!]$/u],
  ])(
    '%s: the long turn, at most %i characters a line, is cut after sentences',
    (file, limit, sentenceEnd) => {
      const turn = longestTurn(file);
      const pieces = splitTurn(turn, limit, characters);
      expect(pieces.length).toBeGreaterThan(2);
      for (const piece of pieces) {
        expect(turnLine(piece).length).toBeLessThanOrEqual(limit);
        expect(turnLine(piece).startsWith(turn.prefix)).toBe(true);
        expect(piece.text).toMatch(sentenceEnd);
      }
      expect(pieces.map((piece) => piece.text).join(file === 'zh.txt' || file === 'ja.txt' ? '' : ' ')).toBe(
        turn.text,
      );
    },
  );

  it('zh.txt: 大家都同意吗？ is never cut between 同意 and 吗？', () => {
    for (const limit of [20, 30, 40, 50, 60, 80]) {
      const pieces = splitTurn(longestTurn('zh.txt'), limit, characters).map((piece) => piece.text);
      expect(pieces.some((piece) => piece.includes('大家都同意吗？'))).toBe(true);
    }
  });

  it('splitLongTurns keeps short turns and their order', () => {
    const turns = splitTurns(multilingual('zh.txt'));
    const virtualTurns = splitLongTurns(turns, 50, characters);
    expect(virtualTurns.length).toBeGreaterThan(turns.length);
    expect(virtualTurns.filter((turn) => turn.speaker === '李娜').map(turnLine)).toEqual([
      '李娜：好的。',
      '李娜：我同意。不过广告已经订好了，需要跟媒体重新协商。',
    ]);
  });
});

describe('splitAndCountTurns: the counts come with the turns', () => {
  /** Counts characters, and every text it was asked to count. */
  const recordingCounter = () => {
    const counted: string[] = [];
    return { counted, count: (text: string) => (counted.push(text), text.length) };
  };
  const fixtures = ['ES2004a.txt', 'Bmr006.txt'].map((file) =>
    readFileSync(join(__dirname, '../../test/fixtures/transcripts', file), 'utf8'),
  );

  it.each([
    [0, 120],
    [0, 40],
    [1, 60],
  ])(
    'fixture %i, limit %i: the same turns as splitLongTurns, each count that of its line',
    (fixture, limit) => {
      const turns = splitTurns(fixtures[fixture] ?? '');
      const counted = splitAndCountTurns(turns, limit, characters);
      expect(counted.turns).toEqual(splitLongTurns(turns, limit, characters));
      expect(counted.counts).toEqual(counted.turns.map((turn) => turnLine(turn).length));
    },
  );

  it('counts a turn that fits once, and a piece at most once after its probes', () => {
    const turns = [turnOf('A : ', 'short'), turnOf('B : ', 'One. Two. Three. Four. Five. Six.')];
    const counter = recordingCounter();
    const counted = splitAndCountTurns(turns, 16, counter);
    expect(counted.turns.map((turn) => turn.text)).toEqual([
      'short',
      'One. Two.',
      'Three. Four.',
      'Five. Six.',
    ]);
    expect(counter.counted.filter((text) => text === 'A : short')).toHaveLength(1);
    // Every piece's line was counted exactly once: the count came from the probe that chose it.
    for (const turn of counted.turns.slice(1)) {
      expect(counter.counted.filter((text) => text === turnLine(turn))).toHaveLength(1);
    }
  });
});
