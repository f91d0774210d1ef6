import type { Tokenizer } from '../tokenizers/tokenizer';
import { type Turn, turnLine } from './turns.util';

type Counter = Pick<Tokenizer, 'count'>;

const SENTENCE_END = /(?<=[.!?…])\s+/u;

/**
 * Splits every turn whose line (`Speaker : text`) is over `maxTokens` into virtual turns of the
 * same speaker, at sentence boundaries, and a sentence that alone is too long at the longest
 * prefix that fits (at a space when there is one). Each virtual turn's line is at most
 * `maxTokens`, unless the speaker prefix alone exceeds it, in which case each holds one piece of
 * at least one character. Joining a turn's pieces with single spaces gives its text back
 * (whitespace between sentences normalised). Pure.
 */
export function splitLongTurns(turns: readonly Turn[], maxTokens: number, tokenizer: Counter): Turn[] {
  return turns.flatMap((turn) => splitTurn(turn, maxTokens, tokenizer));
}

export function splitTurn(turn: Turn, maxTokens: number, tokenizer: Counter): Turn[] {
  const fits = (text: string) => tokenizer.count(turnLine({ speaker: turn.speaker, text })) <= maxTokens;
  if (fits(turn.text)) return [turn];
  const pieces: string[] = [];
  let current = '';
  for (const sentence of turn.text.split(SENTENCE_END)) {
    const candidate = current === '' ? sentence : `${current} ${sentence}`;
    if (fits(candidate)) {
      current = candidate;
      continue;
    }
    if (current !== '') pieces.push(current);
    current = '';
    let rest = sentence;
    while (rest !== '' && !fits(rest)) {
      const cut = longestFittingPrefix(rest, fits);
      pieces.push(rest.slice(0, cut).trimEnd());
      rest = rest.slice(cut).trimStart();
    }
    current = rest;
  }
  if (current !== '') pieces.push(current);
  return pieces.filter((piece) => piece !== '').map((text) => ({ speaker: turn.speaker, text }));
}

/** Length of the longest prefix that fits, preferring to cut after a space; at least 1. */
function longestFittingPrefix(text: string, fits: (text: string) => boolean): number {
  let low = 1;
  let high = text.length - 1;
  let best = 1;
  // Token counts grow with the prefix (near enough for BPE and SentencePiece): binary search.
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    if (fits(text.slice(0, middle))) {
      best = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  const lastSpace = text.lastIndexOf(' ', best);
  const cut = lastSpace > best / 2 ? lastSpace + 1 : best;
  // Never cut inside a UTF-16 surrogate pair.
  const code = text.charCodeAt(cut - 1);
  return code >= 0xd800 && code <= 0xdbff && cut > 1 ? cut - 1 : cut;
}
