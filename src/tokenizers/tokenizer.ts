/** Counts, encodes and decodes text with one vocabulary. Implementations are stateless. */
export interface Tokenizer {
  readonly family: string;
  /** Token ids of `text`, special-token strings counted as plain text (never thrown on). */
  encode(text: string): number[];
  decode(tokenIds: readonly number[]): string;
  count(text: string): number;
}
