export const TOKENIZER_FAMILIES = [
  'cl100k_base',
  'o200k_base',
  'p50k_base',
  'llama2',
  'llama3',
  'mistral',
] as const;
export type TokenizerFamily = (typeof TOKENIZER_FAMILIES)[number];

export interface TokenizerResolution {
  family: TokenizerFamily;
  /** True when `tokenizerClass` named nothing we know and cl100k_base was used instead. */
  isFallback: boolean;
}

const LLAMA3_NAME = /llama[-_ .]?3/i;
const OPENAI_O200K = /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss)/i;
const OPENAI_CL100K = /^(gpt-4|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada-002)/i;
const OPENAI_P50K = /^(text-davinci-00[23]|code-davinci|code-cushman)/i;

/**
 * Which vocabulary counts a flavor's tokens (docs/api.md 6.1). Encoding names and OpenAI model names
 * map to tiktoken encodings; `LlamaTokenizer(Fast)` is Llama 2 unless the class or `modelName`
 * names Llama 3; Mistral and Mixtral names map to the Mistral vocabulary. Anything else falls
 * back to cl100k_base. Pure.
 */
export function resolveTokenizer(tokenizerClass: string, modelName: string): TokenizerResolution {
  const name = tokenizerClass.trim();
  const lower = name.toLowerCase();
  if (lower === 'cl100k_base' || lower === 'o200k_base' || lower === 'p50k_base') {
    return { family: lower, isFallback: false };
  }
  if (LLAMA3_NAME.test(name)) return { family: 'llama3', isFallback: false };
  if (/^llamatokenizer(fast)?$/i.test(name) || /llama[-_ .]?2/i.test(name)) {
    return { family: LLAMA3_NAME.test(modelName) ? 'llama3' : 'llama2', isFallback: false };
  }
  if (/mistral|mixtral/i.test(name)) return { family: 'mistral', isFallback: false };
  if (OPENAI_O200K.test(name)) return { family: 'o200k_base', isFallback: false };
  if (OPENAI_CL100K.test(name)) return { family: 'cl100k_base', isFallback: false };
  if (OPENAI_P50K.test(name)) return { family: 'p50k_base', isFallback: false };
  return { family: 'cl100k_base', isFallback: true };
}
