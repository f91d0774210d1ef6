import type { Tokenizer } from './tokenizer';
import type { TokenizerFamily } from './tokenizer-resolution.util';

/*
 * Each loader requires its package only when first used: the vocabularies ship inside the npm
 * packages (nothing is downloaded), but loading the Llama and Mistral ones costs 0.1–0.3 s.
 * The Llama and Mistral packages are ES modules; Node 20.19+ loads them with require().
 */

interface GptTokenizerModule {
  encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[];
  decode(tokens: Iterable<number>): string;
}

interface SentencePieceModule {
  default: {
    encode(text: string, addBosToken?: boolean, addPrecedingSpace?: boolean): number[];
    decode(tokens: number[], addBosToken?: boolean, addPrecedingSpace?: boolean): string;
  };
}

interface Llama3Module {
  default: {
    encode(text: string, options?: { bos?: boolean; eos?: boolean }): number[];
    decode(tokens: number[]): string;
  };
}

const NO_SPECIAL_TOKENS = { disallowedSpecial: new Set<string>() };

function fromGptTokenizer(family: TokenizerFamily, module: GptTokenizerModule): Tokenizer {
  return {
    family,
    joinerTokens: 1,
    encode: (text) => module.encode(text, NO_SPECIAL_TOKENS),
    decode: (ids) => module.decode(ids),
    count: (text) => module.encode(text, NO_SPECIAL_TOKENS).length,
  };
}

function fromSentencePiece(family: TokenizerFamily, module: SentencePieceModule): Tokenizer {
  const tokenizer = module.default;
  // No BOS token, no added leading space: counts compose when pieces of text are joined.
  return {
    family,
    joinerTokens: 3,
    encode: (text) => (text === '' ? [] : tokenizer.encode(text, false, false)),
    decode: (ids) => (ids.length === 0 ? '' : tokenizer.decode([...ids], false, false)),
    count: (text) => (text === '' ? 0 : tokenizer.encode(text, false, false).length),
  };
}

/* eslint-disable @typescript-eslint/no-require-imports -- lazy loading is the point here */
export const TOKENIZER_LOADERS: Record<TokenizerFamily, () => Tokenizer> = {
  cl100k_base: () =>
    fromGptTokenizer('cl100k_base', require('gpt-tokenizer/encoding/cl100k_base') as GptTokenizerModule),
  o200k_base: () =>
    fromGptTokenizer('o200k_base', require('gpt-tokenizer/encoding/o200k_base') as GptTokenizerModule),
  p50k_base: () =>
    fromGptTokenizer('p50k_base', require('gpt-tokenizer/encoding/p50k_base') as GptTokenizerModule),
  llama2: () => fromSentencePiece('llama2', require('llama-tokenizer-js') as SentencePieceModule),
  mistral: () => fromSentencePiece('mistral', require('mistral-tokenizer-js') as SentencePieceModule),
  llama3: () => {
    const tokenizer = (require('llama3-tokenizer-js') as Llama3Module).default;
    const options = { bos: false, eos: false };
    return {
      family: 'llama3',
      joinerTokens: 1,
      encode: (text) => tokenizer.encode(text, options),
      decode: (ids) => tokenizer.decode([...ids]),
      count: (text) => tokenizer.encode(text, options).length,
    };
  },
};
/* eslint-enable @typescript-eslint/no-require-imports */
