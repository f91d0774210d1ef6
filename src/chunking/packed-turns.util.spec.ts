import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeTexts,
  packedTurnCount,
  packedTurnList,
  packedTurnsTransferList,
  packTurns,
  turnsHolding,
  unpackTurns,
} from './packed-turns.util';
import { splitTurns, turnLine } from './turns.util';
import { type CountedTurns, splitAndCountTurns } from './virtual-turns.util';

const characters = { count: (text: string) => text.length };
const transcript = readFileSync(join(__dirname, '../../test/fixtures/transcripts/ES2004a.txt'), 'utf8');

describe('packTurns / unpackTurns', () => {
  it.each([
    ['no turn', ''],
    ['one turn with no text', 'Bob :'],
    ['text before any speaker, then speakers in two scripts', 'hello\nBob: hi\n王经理：你好。\nhi again'],
    ['empty texts between others', 'A :\nB : x\nA :\nC : 😀 e\u0301'],
    ['a real transcript, long turns split', transcript],
    ['characters beyond one byte after one-byte ones', 'A : café\nB : naïve – “quoted”'],
  ])('%s: round trip, in slices of any size', (_case, text) => {
    const counted = splitAndCountTurns(splitTurns(text), 60, characters);
    const packed = packTurns(counted);
    expect(packedTurnCount(packed)).toBe(counted.turns.length);
    for (const sliceSize of [1, 7, 1000]) {
      const unpacked: CountedTurns = { turns: [], counts: [] };
      for (let start = 0; start < packedTurnCount(packed); start += sliceSize) {
        unpackTurns(packed, start, Math.min(start + sliceSize, packedTurnCount(packed)), unpacked);
      }
      expect(unpacked).toEqual(counted);
      expect(unpacked.turns.map(turnLine)).toEqual(counted.turns.map(turnLine));
    }
    // Texts decoded a window at a time, turns rebuilt a few at a time within each.
    const unpacked: CountedTurns = { turns: [], counts: [] };
    for (let start = 0; start < packedTurnCount(packed);) {
      const windowEnd = turnsHolding(packed, start, 50);
      const decoded = decodeTexts(packed, start, windowEnd);
      for (let sliceStart = start; sliceStart < windowEnd; sliceStart += 3) {
        unpackTurns(packed, sliceStart, Math.min(sliceStart + 3, windowEnd), unpacked, decoded);
      }
      start = windowEnd;
    }
    expect(unpacked).toEqual(counted);
  });

  // Texts of 3, 0, 2 and 5 code units: ends 3, 3, 5, 10.
  const four = packTurns({
    turns: ['abc', '', 'de', 'fghij'].map((text) => ({ speaker: 'A', prefix: 'A : ', text })),
    counts: [1, 1, 1, 1],
  });
  it.each([
    [0, 1, 1],
    [0, 3, 1],
    [0, 4, 3],
    [0, 5, 3],
    [0, 6, 4],
    [0, 100, 4],
    [1, 0, 2],
    [1, 2, 3],
    [2, 2, 3],
    [3, 1, 4],
    [3, 5, 4],
  ])('turnsHolding from turn %i, %i code units: up to turn %i', (start, codeUnits, expected) => {
    expect(turnsHolding(four, start, codeUnits)).toBe(expected);
  });

  it('keeps code units, not characters: a surrogate pair split between two turns comes back', () => {
    const counted: CountedTurns = {
      turns: [
        { speaker: 'A', prefix: 'A : ', text: 'x\uD83D' },
        { speaker: 'A', prefix: 'A : ', text: '\uDE00y' },
      ],
      counts: [1, 2],
    };
    const unpacked: CountedTurns = { turns: [], counts: [] };
    unpackTurns(packTurns(counted), 0, 1, unpacked);
    unpackTurns(packTurns(counted), 1, 2, unpacked);
    expect(unpacked).toEqual(counted);
  });

  it.each([
    ['latin1', 'all below 256', 'A : café\nB : ÿ'],
    ['utf16le', 'some beyond', 'A : café\nB : “quoted”'],
  ])('stores the texts as %s when their code units are %s', (encoding, _case, text) => {
    expect(packTurns(splitAndCountTurns(splitTurns(text), 60, characters)).textEncoding).toBe(encoding);
  });

  it('transfers buffers that hold its arrays and nothing else', () => {
    const packed = packTurns(splitAndCountTurns(splitTurns('A : x\nB : y'), 60, characters));
    const arrays = [packed.texts, packed.textEnds, packed.speakerIndexes, packed.counts];
    expect(packedTurnsTransferList(packed)).toEqual(arrays.map((array) => array.buffer));
    for (const array of arrays) expect(array.byteLength).toBe(array.buffer.byteLength);
  });

  it.each([
    ['no turn', ''],
    ['a real transcript, long turns split', transcript],
    ['characters beyond one byte', 'A : café\nB : naïve – “quoted” 😀\nA :\nC : e\u0301'],
  ])('packedTurnList of %s: the turns, by range and whole', (_case, text) => {
    const counted = splitAndCountTurns(splitTurns(text), 60, characters);
    const list = packedTurnList(packTurns(counted));
    expect(list.length).toBe(counted.turns.length);
    expect([...list]).toEqual(counted.turns);
    const ranges = [
      [0, 0],
      [0, 1],
      [1, 4],
      [3, counted.turns.length],
      [0, counted.turns.length],
      [counted.turns.length, counted.turns.length],
    ];
    for (const [start = 0, end = 0] of ranges) {
      expect(list.slice(start, end)).toEqual(counted.turns.slice(start, end));
    }
  });

  it('keeps one speaker pair per distinct speaker and prefix', () => {
    const packed = packTurns(splitAndCountTurns(splitTurns('A : x\nA: y\nA : z\nB : w'), 60, characters));
    expect(packed.speakers).toEqual([
      ['A', 'A : '],
      ['A', 'A: '],
      ['B', 'B : '],
    ]);
  });
});
