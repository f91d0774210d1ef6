import { splitLines } from './splitlines.util';

/** One speaker turn: the prompt receives `turnLine(turn)`, i.e. `prefix + text`. */
export interface Turn {
  /** Who speaks: the name as typed before the colon, or `(?)` before any speaker. */
  speaker: string;
  /**
   * What precedes the text in the prompt, as typed: `Bob: `, `Bob : `, `王经理：`; for a line
   * without a speaker, its speaker's (see `splitTurns`), or `(?) : ` before any speaker.
   */
  prefix: string;
  /** The rest of the line; empty for a `Speaker :` line with nothing after the colon. */
  text: string;
}

export const UNKNOWN_SPEAKER = '(?)';
const UNKNOWN_SPEAKER_PREFIX = `${UNKNOWN_SPEAKER} : `;

/** The longest speaker name, in characters (code points). */
const MAX_SPEAKER_NAME_LENGTH = 80;

/**
 * A speaker name: starts with a letter or a digit, then letters, marks (accents, vowel signs),
 * digits, spaces, hyphens, apostrophes (' and ’), dots (`.`, `·`, `・`) and zero-width
 * (non-)joiners, ending with a letter, mark, digit or dot; then `:` or the full-width `：`, with
 * optional whitespace on both sides (v1: ` ?: ?`). Greedy and bounded: at most 80 characters.
 */
const SPEAKER_PREFIX = new RegExp(
  String.raw`^([\p{L}\p{N}](?:[\p{L}\p{M}\p{N}\p{Zs}'’.·・\-‐\u200c\u200d]{0,${MAX_SPEAKER_NAME_LENGTH - 2}}[\p{L}\p{M}\p{N}.])?)(\s*)([:：])\s*`,
  'u',
);

/** Python's `str.strip()` whitespace plus U+FEFF (a byte-order mark would hide the first speaker). */
// eslint-disable-next-line no-control-regex -- the unit separator is whitespace to Python
const LINE_EDGE_WHITESPACE = /^[\s\x1f]+|[\s\x1f]+$/g;

/**
 * The speaker prefix a line starts with, as typed (`Bob : ` in `Bob : hi`), and the speaker's
 * name; `undefined` when the line does not start a turn. Two look-alikes are not speakers: a
 * URL (`http://x`: the colon is followed by `//`) and a time or ratio (`10:30`, `2:1`: a digit
 * on both sides of the colon). A line such as `Note: the budget` is a speaker, as in v1. Pure.
 */
export function speakerPrefixOf(line: string): { speaker: string; prefix: string } | undefined {
  const match = SPEAKER_PREFIX.exec(line);
  if (!match) return undefined;
  const [prefix, speaker = '', spaceBeforeColon = '', colon] = match;
  const after = line.slice(speaker.length + spaceBeforeColon.length + 1);
  if (colon === ':' && after.startsWith('//')) return undefined;
  if (colon === ':' && spaceBeforeColon === '' && /\p{Nd}$/u.test(speaker) && /^\p{Nd}/u.test(after)) {
    return undefined;
  }
  return { speaker, prefix };
}

/**
 * Splits a transcript into turns, one per non-blank line (docs/api.md 6.2, as v1 built them):
 * - lines are split as Python's `str.splitlines()` splits them; whitespace at both ends of a
 *   line is removed (Python's `str.strip()` set, plus U+FEFF); lines left empty are dropped;
 * - a line starting with a speaker prefix (`speakerPrefixOf`: a name in any script followed by
 *   `:` or, as in Chinese and Japanese transcripts, the full-width `：`) is a turn of that
 *   speaker whose `turnLine` is the line as written, even when no text follows the colon;
 * - any other line is a turn of the previous speaker, prefixed with that speaker's prefix as
 *   typed; a prefix typed as a bare `:` (`Bob:x`, or `Bob:` alone on its line) gets one space
 *   (`Bob: `), so that the line never reads `Bob:text`; `：` never does. Before any speaker, the
 *   prefix is `(?) : `.
 * Never drops, reorders or rewrites text other than that whitespace. Pure.
 */
export function splitTurns(transcript: string): Turn[] {
  const turns: Turn[] = [];
  let speaker = UNKNOWN_SPEAKER;
  let continuationPrefix = UNKNOWN_SPEAKER_PREFIX;
  for (const rawLine of splitLines(transcript)) {
    const line = rawLine.replace(LINE_EDGE_WHITESPACE, '');
    if (line === '') continue;
    const speakerPrefix = speakerPrefixOf(line);
    if (speakerPrefix) {
      speaker = speakerPrefix.speaker;
      const { prefix } = speakerPrefix;
      continuationPrefix = prefix.endsWith(':') ? `${prefix} ` : prefix;
      turns.push({ speaker, prefix, text: line.slice(prefix.length) });
      continue;
    }
    turns.push({ speaker, prefix: continuationPrefix, text: line });
  }
  return turns;
}

/** The line the prompt receives for a turn: its prefix and its text, as written. */
export function turnLine(turn: Turn): string {
  return turn.prefix + turn.text;
}
