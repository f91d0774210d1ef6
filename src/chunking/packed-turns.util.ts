import type { BatchRange } from './batches.util';
import type { Turn } from './turns.util';
import type { CountedTurns } from './virtual-turns.util';

/**
 * Counted turns in a form that crosses a thread boundary cheaply: typed arrays whose buffers are
 * transferred, not copied (`packedTurnsTransferList`), and a short list of speakers, instead of
 * one object per turn (the structured clone of ~170,000 turn objects takes ~0.5 s on the
 * receiving thread) or one string of every text (copied on the receiving thread, ~30 ms for a
 * 19 MB text, in one turn of its event loop).
 */
export interface PackedTurns {
  /**
   * Every turn's text, one after the other, as UTF-16 code units: one byte each (`latin1`) when
   * all of them are below 256, else two (`utf16le`). Code units, not UTF-8, so that any string,
   * even one that ends inside a surrogate pair, comes back unchanged.
   */
  texts: Uint8Array;
  textEncoding: 'latin1' | 'utf16le';
  /** Where each turn's text ends in `texts`, in code units (exclusive); it starts where the previous one ends. */
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
  const textEncoding = turns.every((turn) => !BEYOND_LATIN1.test(turn.text)) ? 'latin1' : 'utf16le';
  const bytesPerUnit = textEncoding === 'latin1' ? 1 : 2;
  // A buffer of its own (never Buffer's shared pool): it is transferred.
  const texts = new Uint8Array(end * bytesPerUnit);
  const writer = Buffer.from(texts.buffer);
  turns.forEach((turn, index) => {
    writer.write(turn.text, (index === 0 ? 0 : (textEnds[index - 1] ?? 0)) * bytesPerUnit, textEncoding);
  });
  return { texts, textEncoding, textEnds, speakers, speakerIndexes, counts: Uint32Array.from(counts) };
}

/** A code unit that one byte cannot hold. */
const BEYOND_LATIN1 = /[\u0100-\uffff]/;

/** The buffers to transfer with `packed` (each belongs to it alone). Pure. */
export function packedTurnsTransferList(packed: PackedTurns): ArrayBuffer[] {
  return [packed.texts, packed.textEnds, packed.speakerIndexes, packed.counts].map(
    (array) => array.buffer as ArrayBuffer,
  );
}

/** How many turns `packed` holds. Pure. */
export function packedTurnCount(packed: PackedTurns): number {
  return packed.textEnds.length;
}

/** Texts of consecutive turns of a PackedTurns, decoded as one string. */
export interface DecodedTexts {
  /** Where `texts` starts in the packed texts, in code units. */
  offset: number;
  texts: string;
}

/**
 * The texts of turns `[start, end)` of `packed`, decoded at once: one large string that
 * `unpackTurns` slices is cheaper for the garbage collector than many small ones (it is not
 * copied between generations). Pure.
 */
export function decodeTexts(packed: PackedTurns, start: number, end: number): DecodedTexts {
  const bytesPerUnit = packed.textEncoding === 'latin1' ? 1 : 2;
  const offset = start === 0 ? 0 : (packed.textEnds[start - 1] ?? 0);
  const textsEnd = end > start ? (packed.textEnds[end - 1] ?? offset) : offset;
  const bytes = Buffer.from(packed.texts.buffer, packed.texts.byteOffset, packed.texts.byteLength);
  return {
    offset,
    texts: bytes.toString(packed.textEncoding, offset * bytesPerUnit, textsEnd * bytesPerUnit),
  };
}

/**
 * The end (exclusive) of the turns from `start` whose texts hold `codeUnits` code units, the
 * last one included; all the remaining turns when they hold fewer; never less than `start + 1`
 * when a turn is left. Pure.
 */
export function turnsHolding(packed: PackedTurns, start: number, codeUnits: number): number {
  const { textEnds } = packed;
  const target = (start === 0 ? 0 : (textEnds[start - 1] ?? 0)) + codeUnits;
  let low = start;
  let high = textEnds.length;
  // The first turn whose text ends at or beyond `target`, by bisection (the ends only grow).
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((textEnds[middle] ?? 0) < target) low = middle + 1;
    else high = middle;
  }
  return Math.min(textEnds.length, Math.max(low + 1, start + 1));
}

/**
 * Appends turns `[start, end)` of `packed` to `into` (to rebuild a long list a slice at a time,
 * letting the event loop run between slices), slicing their texts from `decoded`, which must hold
 * them (by default, they are decoded now). Pure apart from appending to `into`.
 */
export function unpackTurns(
  packed: PackedTurns,
  start: number,
  end: number,
  into: CountedTurns,
  decoded: DecodedTexts = decodeTexts(packed, start, end),
): void {
  for (let index = start; index < end; index += 1) {
    const [speaker, prefix] = packed.speakers[packed.speakerIndexes[index] ?? 0] ?? ['', ''];
    const textStart = index === 0 ? 0 : (packed.textEnds[index - 1] ?? 0);
    const textEnd = packed.textEnds[index] ?? textStart;
    const turn: Turn = {
      speaker,
      prefix,
      text: decoded.texts.slice(textStart - decoded.offset, textEnd - decoded.offset),
    };
    into.turns.push(turn);
    into.counts.push(packed.counts[index] ?? 0);
  }
}

/**
 * Counted turns as a split gives them: an array of turns or a TurnList, with their map batches
 * when the split planned them too.
 */
export interface SplitTurns {
  turns: TurnList;
  counts: number[];
  /** `planBatches(counts, ...)` with the limits the split was given, when it planned them. */
  batches?: BatchRange[];
}

/**
 * Turns read a range at a time: an array of turns is one, and so is `packedTurnList(packed)`,
 * which builds only the turns of the range asked for.
 */
export interface TurnList extends Iterable<Turn> {
  readonly length: number;
  /** Turns `[start, end)` (both within `[0, length]`), as a new array. */
  slice(start: number, end: number): Turn[];
}

/**
 * The turns of `packed` as a TurnList that decodes a range when it is asked for, so that the
 * turns of a long text are never all objects at once: what a thread's answer is read through
 * when the turns are read a batch at a time (~180,000 turn objects built at once cost the event
 * loop ~0.3 s with their garbage collection). Pure.
 */
export function packedTurnList(packed: PackedTurns): TurnList {
  const length = packedTurnCount(packed);
  const slice = (start: number, end: number): Turn[] => {
    const [from, to] = [Math.max(0, Math.min(start, length)), Math.max(0, Math.min(end, length))];
    const into: CountedTurns = { turns: [], counts: [] };
    if (to > from) unpackTurns(packed, from, to, into);
    return into.turns;
  };
  return {
    length,
    slice,
    *[Symbol.iterator]() {
      // A window of texts decoded at a time: one string per window, not per turn.
      for (let start = 0; start < length;) {
        const end = turnsHolding(packed, start, ITERATED_CODE_UNITS);
        yield* slice(start, end);
        start = end;
      }
    },
  };
}

/** Code units of texts decoded at once when a whole TurnList is iterated. */
const ITERATED_CODE_UNITS = 256 * 1024;
