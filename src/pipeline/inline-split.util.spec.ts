import { INLINE_SPLIT_MAX_MS, inlineSplitMaxBytes } from './inline-split.util';

describe('inlineSplitMaxBytes', () => {
  it.each([
    ['cl100k_base', 24_000],
    ['o200k_base', 24_000],
    ['p50k_base', 24_000],
    ['llama3', 4_000],
    ['llama2', 2_000],
    ['mistral', 2_000],
  ] as const)('%s: texts up to %d bytes are split inline', (family, maxBytes) => {
    expect(inlineSplitMaxBytes(family)).toBe(maxBytes);
  });

  it.each([
    // ES2004a (18,686 bytes): a few milliseconds with a BPE vocabulary, ~40 ms with SentencePiece.
    ['cl100k_base', 18_686, true],
    ['llama3', 18_686, false],
    ['llama2', 18_686, false],
    ['mistral', 18_686, false],
    // Bmr006 (101,477 bytes): ~15 ms even with a BPE vocabulary.
    ['cl100k_base', 101_477, false],
  ] as const)('%s, %d bytes: inline %s', (family, bytes, isInline) => {
    expect(bytes <= inlineSplitMaxBytes(family)).toBe(isInline);
  });

  it('allows a few milliseconds of event loop, never tens', () => {
    expect(INLINE_SPLIT_MAX_MS).toBeGreaterThan(0);
    expect(INLINE_SPLIT_MAX_MS).toBeLessThanOrEqual(5);
  });
});
