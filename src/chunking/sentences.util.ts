import { segmenterFor } from './segmenters';

/**
 * Titles after which ICU ends a sentence when a capitalised name follows (`Dr. Smith`): V8 does
 * not expose ICU's per-locale abbreviation lists (`-u-ss-standard`), so the common ones of our
 * languages are listed here (lower case).
 */
const TITLES = new Set([
  'dr',
  'dra',
  'prof',
  'mr',
  'mrs',
  'ms',
  'mx',
  'jr',
  'sr',
  'sra',
  'srta',
  'st',
  'mme',
  'mlle',
  'mgr',
  'inż',
  'lic',
  'ing',
]);

/** Code units at the end of a sentence that decide whether it ends there: longer than any title. */
const ENDING_LENGTH = 100;

/** The last word of a sentence ending with a dot (and whitespace). */
const LAST_WORD_BEFORE_DOT = /(?:^|[^\p{L}\p{M}\p{N}])([\p{L}\p{M}]+)\.\s*$/u;

/**
 * What belongs to the end of the previous sentence: whitespace, and closing brackets or quotes
 * standing alone before whitespace (French `bonjour ! »`; a `»` glued to a word opens a quote).
 */
const LEADING_TAIL = /^\s*(?:[\p{Pe}\p{Pf}]+(?=\s|$)\s*)?/u;

/** What belongs to the start of the next sentence: opening brackets (Japanese `！「`). */
const TRAILING_OPENING = /\p{Ps}+\s*$/u;

function endsWithAbbreviation(sentence: string): boolean {
  const lastWord = LAST_WORD_BEFORE_DOT.exec(sentence.slice(-ENDING_LENGTH))?.[1];
  if (lastWord === undefined) return false;
  return TITLES.has(lastWord.toLowerCase()) || /^\p{Lu}$/u.test(lastWord);
}

/**
 * Splits `text` into sentences with ICU's sentence segmenter (`Intl.Segmenter`), which ends a
 * sentence after `。！？` with no space needed, after `।`, `؟`, `۔`, and after `. ! ?` followed
 * by whitespace and no lower-case letter (not after `…`: speech trails off). Three corrections:
 * no cut after a title or an initial (`Dr. O'Brien`, `J. Smith`); closing brackets and quotes
 * that ICU gave to the next sentence stay with theirs (`« bonjour ! »`); an opening bracket
 * starts its sentence (`！「そう`). Each sentence keeps the whitespace that follows it, so every
 * sentence but the first starts with a non-whitespace character, and joining the sentences
 * gives `text` back exactly. Pure (the segmenter is shared).
 */
export function splitSentences(text: string, locale?: string): string[] {
  const sentences: string[] = [];
  for (const { segment } of segmenterFor('sentence', locale).segment(text)) {
    const previous = sentences.pop();
    if (previous === undefined) {
      sentences.push(segment);
      continue;
    }
    const tail = LEADING_TAIL.exec(segment)?.[0] ?? '';
    let current = previous + tail;
    let next = segment.slice(tail.length);
    // Only the end of a sentence decides: a text of many merged sentences stays linear.
    const opening = TRAILING_OPENING.exec(current.slice(-ENDING_LENGTH))?.[0] ?? '';
    current = current.slice(0, current.length - opening.length);
    next = opening + next;
    if (current.trim() === '' || next.trim() === '' || endsWithAbbreviation(current)) {
      sentences.push(current + next);
    } else {
      sentences.push(current, next);
    }
  }
  return sentences;
}
