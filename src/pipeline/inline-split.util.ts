import type { TokenizerFamily } from '../tokenizers/tokenizer-resolution.util';

/**
 * Event-loop time a text's split may take inline: about what handing it to a split thread costs
 * (the task's message, a thread that may have to wake, the turns sent back and rebuilt: 1.5-3 ms
 * on a busy 2-core machine), so a thread only ever takes work that is longer than its own cost.
 */
export const INLINE_SPLIT_MAX_MS = 4;

/**
 * UTF-8 bytes split and counted per millisecond (`splitAndCountTurns(splitTurns(text))`, warm,
 * medians over the shared transcripts on a busy 2-core machine, Node 20), rounded down: BPE
 * vocabularies ~6-7 KB/ms, Llama 3's ~1 KB/ms, the SentencePiece ones (Llama 2, Mistral)
 * ~0.5 KB/ms.
 */
const SPLIT_BYTES_PER_MS: Readonly<Record<TokenizerFamily, number>> = {
  cl100k_base: 6_000,
  o200k_base: 6_000,
  p50k_base: 6_000,
  llama3: 1_000,
  llama2: 500,
  mistral: 500,
};

/**
 * The largest text, in UTF-8 bytes, that is split and counted with `family` on the event loop:
 * what takes INLINE_SPLIT_MAX_MS at that vocabulary's measured speed (24 KB with BPE vocabularies,
 * 2 KB with SentencePiece ones). A larger text goes to a split thread. Pure.
 */
export function inlineSplitMaxBytes(family: TokenizerFamily): number {
  return INLINE_SPLIT_MAX_MS * SPLIT_BYTES_PER_MS[family];
}
