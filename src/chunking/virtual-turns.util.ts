import type { Tokenizer } from '../tokenizers/tokenizer';
import { cutPosition } from './cut-position.util';
import { splitSentences } from './sentences.util';
import { type Turn, turnLine } from './turns.util';

type Counter = Pick<Tokenizer, 'count'>;

/** Turns and the token count of each one's line (`turnLine`), index for index. */
export interface CountedTurns {
  turns: Turn[];
  counts: number[];
}

/** `splitTurn` over every turn, in order. Pure. */
export function splitLongTurns(turns: readonly Turn[], maxTokens: number, tokenizer: Counter): Turn[] {
  return splitAndCountTurns(turns, maxTokens, tokenizer).turns;
}

/**
 * `splitLongTurns` with the count of every resulting line, each taken from the counting that
 * splitting does anyway (a turn that fits is counted once; a piece is counted at most once more):
 * the pipeline plans and budgets with these counts, never counting a line again. Pure.
 */
export function splitAndCountTurns(
  turns: readonly Turn[],
  maxTokens: number,
  tokenizer: Counter,
): CountedTurns {
  const counted: CountedTurns = { turns: [], counts: [] };
  for (const turn of turns) {
    // Most turns fit as they are: counted once, without splitAndCountTurn's probing (a map and
    // closures per turn, ~a third of an 18 KB transcript's split while the code is still cold).
    const count = tokenizer.count(turnLine(turn));
    if (turn.text === '' || count <= maxTokens) {
      counted.turns.push(turn);
      counted.counts.push(count);
      continue;
    }
    const pieces = splitAndCountTurn(turn, maxTokens, tokenizer);
    for (let index = 0; index < pieces.turns.length; index += 1) {
      counted.turns.push(pieces.turns[index] as Turn);
      counted.counts.push(pieces.counts[index] ?? 0);
    }
  }
  return counted;
}

/** `splitTurn` with the count of each piece's line. Pure. */
export function splitAndCountTurn(turn: Turn, maxTokens: number, tokenizer: Counter): CountedTurns {
  // Counts of the texts probed since the last piece: a piece is usually one of them. Cleared at
  // each piece, so that a long turn never keeps more than one piece's probes.
  const probed = new Map<string, number>();
  const countOf = (text: string) => {
    let count = probed.get(text);
    if (count === undefined) {
      count = tokenizer.count(turnLine({ ...turn, text }));
      probed.set(text, count);
    }
    return count;
  };
  const fits = (text: string) => countOf(text) <= maxTokens;
  if (turn.text === '' || fits(turn.text)) return { turns: [turn], counts: [countOf(turn.text)] };
  const pieces: CountedTurns = { turns: [], counts: [] };
  const addPiece = (text: string) => {
    if (text !== '') {
      pieces.turns.push({ ...turn, text });
      pieces.counts.push(countOf(text));
    }
    probed.clear();
  };
  // Each keeps the whitespace that follows it; a sentence cut at the last resort is replaced by
  // what is left of it.
  const sentences = splitSentences(turn.text);
  let start = 0;
  while (start < sentences.length) {
    const end = mostSentencesThatFit(sentences, start, fits);
    if (end > start) {
      addPiece(sentences.slice(start, end).join('').trim());
      start = end;
      continue;
    }
    // The sentence alone is too long. Counted once whole, then only as far as a line goes.
    let rest = (sentences[start] ?? '').trimStart();
    let fitting = longestFittingLength(rest.trimEnd(), fits);
    while (fitting < rest.trimEnd().length) {
      const text = rest.trimEnd();
      const cut = cutPosition(text, fitting);
      addPiece(text.slice(0, cut).trimEnd());
      // From `rest`, not `text`: the whitespace after the sentence still separates it from the next.
      rest = rest.slice(cut).trimStart();
      fitting = longestFittingLength(rest.trimEnd(), fits);
    }
    sentences[start] = rest;
    if (rest === '') start += 1;
  }
  return pieces;
}

/**
 * A turn whose line (`turnLine`) is at most `maxTokens` is returned as is. A longer one is split
 * into virtual turns of the same speaker and prefix: as many whole sentences as fit in each
 * (`splitSentences`: ICU's sentence boundaries in every script), and a sentence too long alone
 * is cut at the longest part that fits (`cutPosition`: next to whitespace or after punctuation,
 * else at a word or grapheme boundary). Each virtual turn's line is at most `maxTokens`, unless
 * the prefix with one grapheme already exceeds it (then each holds one grapheme, so that
 * splitting ends). No text is added, lost, duplicated or reordered: the pieces never start or
 * end with whitespace, and joining them with the whitespace the text had at each cut gives the
 * text back (for Chinese and Japanese, where sentences are not separated by spaces, joining them
 * with nothing does). A turn with no text is returned as is. Token counts are taken to grow
 * with the text, as they do near enough for BPE and SentencePiece vocabularies. Pure.
 */
export function splitTurn(turn: Turn, maxTokens: number, tokenizer: Counter): Turn[] {
  return splitAndCountTurn(turn, maxTokens, tokenizer).turns;
}

/**
 * The end (exclusive) of the longest run of whole sentences from `start` that fits, `start` when
 * not even one does. Gallops, then bisects: a run of many short sentences ("Yes. Okay. Right.")
 * is counted a logarithmic number of times, not once per sentence.
 */
function mostSentencesThatFit(
  sentences: readonly string[],
  start: number,
  fits: (text: string) => boolean,
): number {
  const fitsUpTo = (end: number) => fits(sentences.slice(start, end).join('').trim());
  let fitting = start;
  let tooMany = -1;
  for (let count = 1; tooMany < 0; count *= 2) {
    const end = Math.min(start + count, sentences.length);
    if (!fitsUpTo(end)) tooMany = end;
    else if (end === sentences.length) return end;
    else fitting = end;
  }
  while (tooMany - fitting > 1) {
    const middle = Math.floor((fitting + tooMany) / 2);
    if (fitsUpTo(middle)) fitting = middle;
    else tooMany = middle;
  }
  return fitting;
}

/** Code units of the longest prefix of `text` that fits: `text.length` when all of it does. */
function longestFittingLength(text: string, fits: (text: string) => boolean): number {
  let fitting = 0;
  let tooLong = -1;
  // A cut usually falls a few hundred characters into a much longer text: gallop, then bisect,
  // so that each probe counts little more than one line's worth of text.
  for (let probe = 64; tooLong < 0; probe *= 2) {
    const length = Math.min(probe, text.length);
    if (!fits(text.slice(0, length))) tooLong = length;
    else if (length === text.length) return length;
    else fitting = length;
  }
  // Token counts grow with the prefix (near enough for BPE and SentencePiece).
  while (tooLong - fitting > 1) {
    const middle = Math.floor((fitting + tooLong) / 2);
    if (fits(text.slice(0, middle))) fitting = middle;
    else tooLong = middle;
  }
  return fitting;
}
