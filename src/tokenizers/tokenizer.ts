/** Counts, encodes and decodes text with one vocabulary. Implementations are stateless. */
export interface Tokenizer {
  readonly family: string;
  /**
   * Allowance for the newline joining two pieces of text: counts of pieces do not add up exactly
   * (1 for BPE vocabularies, 3 for SentencePiece ones, measured on the shared transcripts).
   */
  readonly joinerTokens: number;
  /** Token ids of `text`, special-token strings counted as plain text (never thrown on). */
  encode(text: string): number[];
  decode(tokenIds: readonly number[]): string;
  count(text: string): number;
}
