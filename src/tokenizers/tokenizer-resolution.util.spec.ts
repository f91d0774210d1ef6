import { resolveTokenizer } from './tokenizer-resolution.util';

describe('resolveTokenizer', () => {
  it.each([
    ['cl100k_base', 'any', 'cl100k_base', false],
    ['o200k_base', 'any', 'o200k_base', false],
    ['p50k_base', 'any', 'p50k_base', false],
    ['gpt-4o-mini', 'gpt-4o-mini', 'o200k_base', false],
    ['gpt-4', 'gpt-4', 'cl100k_base', false],
    ['gpt-3.5-turbo', 'x', 'cl100k_base', false],
    ['text-davinci-003', 'x', 'p50k_base', false],
    ['LlamaTokenizer', 'TheBloke/Vigostral-7B-Chat-AWQ', 'llama2', false],
    ['LlamaTokenizerFast', 'llama-2-13b-chat', 'llama2', false],
    ['LlamaTokenizer', 'meta-llama-31-8b-it', 'llama3', false],
    ['LlamaTokenizer', 'Llama-3.1-8B-Instruct', 'llama3', false],
    ['LlamaTokenizerFast', 'meta-llama/Meta-Llama-3-70B-Instruct', 'llama3', false],
    ['meta-llama/Llama-3.2-3B-Instruct', 'x', 'llama3', false],
    ['MistralTokenizer', 'mistral-7b-instruct-v0.2', 'mistral', false],
    ['mistralai/Mixtral-8x7B-Instruct-v0.1', 'x', 'mistral', false],
    ['BertTokenizer', 'bert', 'cl100k_base', true],
    ['', 'x', 'cl100k_base', true],
  ])('%s with model %s -> %s', (tokenizerClass, modelName, family, isFallback) => {
    expect(resolveTokenizer(tokenizerClass, modelName)).toEqual({ family, isFallback });
  });
});
