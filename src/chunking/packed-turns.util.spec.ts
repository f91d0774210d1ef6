import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packedTurnCount, packTurns, unpackTurns } from './packed-turns.util';
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
