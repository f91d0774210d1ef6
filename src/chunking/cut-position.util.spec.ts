import { cutPosition } from './cut-position.util';

describe('cutPosition', () => {
  it.each([
    ['after whitespace', 'aaaa bbbb cccc', 7, 5],
    ['before whitespace, at the very end of what fits', 'aaaa bbbb cccc', 9, 9],
    ['after punctuation', 'aaaa,bbbb,cccc', 12, 10],
    ['after a Chinese comma', '我们明天开始讨论预算的问题，大家都同意吗', 16, 14],
    ['at a Chinese word boundary (ICU dictionary)', '我们明天开始讨论预算的问题', 5, 4],
    ['not between 同意 and 吗 when 吗？ fits', '大家都同意吗？好的', 7, 7],
    ['at a Japanese word boundary', '会場はすでに予約しました', 5, 3],
    ['at a grapheme when no word boundary is in the last half', 'abcdefghij', 4, 4],
    ['never inside a surrogate pair', '😀😀😀', 3, 2],
    ['never before a combining mark', 'e\u0301e\u0301e\u0301', 3, 2],
    ['never inside an emoji sequence', '👩‍👩‍👧👩‍👩‍👧', 10, 8],
    ['never inside a Devanagari conjunct', 'नमस्ते', 3, 2],
    ['never inside an Arabic letter with its shadda', 'محمّد', 3, 2],
    ['the first grapheme when nothing fits', 'abc', 0, 1],
    ['the first grapheme, whole, when nothing fits', '😀abc', 1, 2],
    ['the whole text when it fits', 'abc', 3, 3],
  ])('%s: %j with %i fitting code units -> %i', (_case, text, fittingLength, expected) => {
    expect(cutPosition(text, fittingLength)).toBe(expected);
  });
});
