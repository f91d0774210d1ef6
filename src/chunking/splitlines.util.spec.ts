import { splitLines } from './splitlines.util';

describe('splitLines (Python str.splitlines())', () => {
  it.each([
    ['\\n', '\n'],
    ['\\r\\n', '\r\n'],
    ['a lone \\r', '\r'],
    ['\\v (\\x0b)', '\v'],
    ['\\f (\\x0c)', '\f'],
    ['\\x1c (file separator)', '\x1c'],
    ['\\x1d (group separator)', '\x1d'],
    ['\\x1e (record separator)', '\x1e'],
    ['\\x85 (next line)', '\x85'],
    ['U+2028 (line separator)', '\u2028'],
    ['U+2029 (paragraph separator)', '\u2029'],
  ])('splits at %s', (_name, boundary) => {
    expect(splitLines(`Alice : a${boundary}Bob : b`)).toEqual(['Alice : a', 'Bob : b']);
    expect(splitLines(`a${boundary}`)).toEqual(['a']);
    expect(splitLines(`a${boundary}${boundary}b`)).toEqual(['a', '', 'b']);
  });

  it.each([
    ['\\t', '\t'],
    ['\\x1f (unit separator: whitespace, not a boundary)', '\x1f'],
    ['U+00A0', '\u00a0'],
    ['U+3000', '\u3000'],
    ['U+200B (zero-width space)', '\u200b'],
  ])('does not split at %s', (_name, character) => {
    expect(splitLines(`a${character}b`)).toEqual([`a${character}b`]);
  });

  // Expected values printed by CPython 3: repr(text.splitlines()).
  it.each([
    ['', []],
    ['a', ['a']],
    ['\n', ['']],
    ['\n\n', ['', '']],
    ['a\n', ['a']],
    ['a\n\n', ['a', '']],
    ['\na', ['', 'a']],
    ['a\r\nb', ['a', 'b']],
    ['a\r\rb', ['a', '', 'b']],
    ['a\n\rb', ['a', '', 'b']],
    ['a\r\n\nb', ['a', '', 'b']],
    ['\r\r\n', ['', '']],
    ['a\r', ['a']],
    ['Alice : a\rBob : b\rCarol : c', ['Alice : a', 'Bob : b', 'Carol : c']],
    ['  \n\t\n', ['  ', '\t']],
  ])('%j -> %j', (text, expected) => {
    expect(splitLines(text)).toEqual(expected);
  });
});
