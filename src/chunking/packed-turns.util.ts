import type { Turn } from './turns.util';
import type { CountedTurns } from './virtual-turns.util';

/**
 * Counted turns in a form that crosses a thread boundary cheaply: a few strings and typed
 * arrays instead of one object per turn (the structured clone of ~170,000 turn objects takes
 * ~0.5 s on the receiving thread; this form a few milliseconds).
 */
export interface PackedTurns {
  /** Every turn's text, one after the other. */
  texts: string;
  /** Where each turn's text ends in `texts` (exclusive); it starts where the previous one ends. */
  textEnds: Uint32Array;
  /** The distinct speaker and prefix pairs. */
  speakers: [speaker: string, prefix: string][];
  /** Each turn's pair in `speakers`. */
  speakerIndexes: Uint32Array;
  /** Each turn's line count. */
  counts: Uint32Array;
}

/** `counted` packed; `unpackTurns` gives it back. Pure. */
export function packTurns({ turns, counts }: CountedTurns): PackedTurns {
  const textEnds = new Uint32Array(turns.length);
  const speakerIndexes = new Uint32Array(turns.length);
  const speakers: [string, string][] = [];
  const speakerIndex = new Map<string, Map<string, number>>();
  let end = 0;
  turns.forEach((turn, index) => {
    end += turn.text.length;
    textEnds[index] = end;
    let byPrefix = speakerIndex.get(turn.speaker);
    if (!byPrefix) speakerIndex.set(turn.speaker, (byPrefix = new Map<string, number>()));
    let pair = byPrefix.get(turn.prefix);
    if (pair === undefined) {
      pair = speakers.push([turn.speaker, turn.prefix]) - 1;
      byPrefix.set(turn.prefix, pair);
    }
    speakerIndexes[index] = pair;
  });
  return {
    texts: turns.map((turn) => turn.text).join(''),
    textEnds,
    speakers,
    speakerIndexes,
    counts: Uint32Array.from(counts),
  };
}

/** How many turns `packed` holds. Pure. */
export function packedTurnCount(packed: PackedTurns): number {
  return packed.textEnds.length;
}

/**
 * Appends turns `[start, end)` of `packed` to `into` (to rebuild a long list a slice at a time,
 * letting the event loop run between slices). Pure apart from appending to `into`.
 */
export function unpackTurns(packed: PackedTurns, start: number, end: number, into: CountedTurns): void {
  for (let index = start; index < end; index += 1) {
    const [speaker, prefix] = packed.speakers[packed.speakerIndexes[index] ?? 0] ?? ['', ''];
    const text = packed.texts.slice(index === 0 ? 0 : packed.textEnds[index - 1], packed.textEnds[index]);
    const turn: Turn = { speaker, prefix, text };
    into.turns.push(turn);
    into.counts.push(packed.counts[index] ?? 0);
  }
}
