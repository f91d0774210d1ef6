/**
 * Python's `str.splitlines()` line boundaries: `\r\n` first (one boundary), then a lone `\n`,
 * `\r`, `\v`, `\f`, `\x1c`, `\x1d`, `\x1e`, `\x85`, U+2028 and U+2029.
 */
// eslint-disable-next-line no-control-regex -- the file, group and record separators are boundaries
const LINE_BOUNDARY = /\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/;

/**
 * Splits `text` into lines exactly as Python's `str.splitlines()` does (without `keepends`):
 * the boundaries are not part of the lines, a boundary at the very end does not start an empty
 * last line, and an empty text has no lines (`''` → `[]`, `'a\n'` → `['a']`, `'\n'` → `['']`,
 * `'a\r\n\rb'` → `['a', '', 'b']`). Blank lines are kept: the caller decides. Pure.
 */
export function splitLines(text: string): string[] {
  const lines = text.split(LINE_BOUNDARY);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}
