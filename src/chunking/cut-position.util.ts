import { segmenterFor } from './segmenters';

/** Code units segmented past the fitting part: far more than any grapheme or word spans. */
const LOOKAHEAD_LENGTH = 1024;

/**
 * Where to cut `fullText` when its first `fittingLength` code units are the most that fit and no
 * sentence boundary is left (the last resort of virtual turns). Returns a cut position `p`
 * (`fullText.slice(0, p)` is the first piece) with `0 < p ≤ max(fittingLength, first grapheme)`:
 * within the last half of the fitting part, the last place next to whitespace or after
 * punctuation (a word end in spaced scripts, a clause end such as `，` in Chinese), else the last
 * word boundary (ICU's dictionary finds Chinese, Japanese and Thai words), else the last grapheme
 * boundary. Never cuts inside a grapheme (so never inside a surrogate pair or before a combining
 * mark; graphemes over 1,024 code units long excepted); when not even the first grapheme fits,
 * returns its end, so that callers always make progress. Pure (the segmenters are shared).
 */
export function cutPosition(fullText: string, fittingLength: number, locale?: string): number {
  if (fittingLength >= fullText.length) return fullText.length;
  // ICU copies the text it segments: only what is near the cut, so that cutting a long text in
  // many pieces stays linear. A boundary depends on the characters before it and the next one.
  const text = fullText.slice(0, fittingLength + LOOKAHEAD_LENGTH);
  const graphemes = segmenterFor('grapheme', locale).segment(text);
  const isGraphemeBoundary = (position: number) => graphemes.containing(position)?.index === position;
  const graphemeCut = graphemes.containing(Math.max(0, fittingLength))?.index ?? 0;
  if (graphemeCut === 0) return graphemes.containing(0)?.segment.length ?? text.length;

  const words = segmenterFor('word', locale).segment(text);
  const lowest = graphemeCut / 2;
  let lastWordBoundary: number | undefined;
  // Walk the word boundaries back from the cut: `before` ends at `boundary`, `after` starts there.
  let after = words.containing(graphemeCut);
  let boundary = after?.index ?? graphemeCut;
  let before = words.containing(boundary - 1);
  while (before && boundary > lowest) {
    if (isGraphemeBoundary(boundary)) {
      const isAfterSpaceOrPunctuation = before.isWordLike !== true;
      const isBeforeSpace = after !== undefined && /^\s/u.test(after.segment);
      if (isAfterSpaceOrPunctuation || isBeforeSpace) return boundary;
      lastWordBoundary ??= boundary;
    }
    after = before;
    boundary = before.index;
    before = words.containing(boundary - 1);
  }
  return lastWordBoundary ?? graphemeCut;
}
