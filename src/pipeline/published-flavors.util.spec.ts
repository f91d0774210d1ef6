import { publishedFlavorVocabularies } from './published-flavors.util';

describe('publishedFlavorVocabularies', () => {
  const llama = { name: 'a', modelName: 'llama-3.1-8b', tokenizerClass: 'LlamaTokenizer' };
  const gpt = { name: 'b', modelName: 'gpt-4o-mini', tokenizerClass: 'gpt-4o-mini' };

  it.each([
    ['two services', [{ flavor: [llama] }, { flavor: [gpt] }], [llama, gpt]],
    ['nothing published', undefined, []],
    ['not a list', { flavor: [llama] }, []],
    ['a service without flavors', [{ route: 'x' }, { flavor: [gpt] }], [gpt]],
    ['a flavor missing a field', [{ flavor: [{ modelName: 'm' }, llama] }], [llama]],
    ['a flavor that is not an object', [{ flavor: [null, 'x', llama] }], [llama]],
  ])('%s', (_case, published, expected) => {
    expect(publishedFlavorVocabularies(published)).toEqual(
      expected.map(({ tokenizerClass, modelName }) => ({ tokenizerClass, modelName })),
    );
  });
});
