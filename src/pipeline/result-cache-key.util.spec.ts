import { testFlavor } from '../../test/support/pipeline-fixtures';
import { type ResultCacheInput, resultCacheKey } from './result-cache-key.util';

const flavor = testFlavor({ reduce_prompt: null });

const base: ResultCacheInput = {
  service: { route: 'summarize/en', promptName: 'summarize-en', fields: 2 },
  flavor,
  text: 'Alice : hello\nBob : hi',
  template: 'Summary:\n{}\nTurns:\n{}',
  reduceTemplate: 'Merge:\n{}',
};

describe('resultCacheKey', () => {
  const key = resultCacheKey(base);

  it('is a sha256 in hex that does not contain the text', () => {
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(resultCacheKey({ ...base })).toBe(key);
  });

  it.each<[string, Partial<ResultCacheInput>]>([
    ['another text', { text: 'Alice : hello\nBob : hi!' }],
    ['another route', { service: { ...base.service, route: 'summarize/fr' } }],
    ['another fields', { service: { ...base.service, fields: 1 } }],
    ['another flavor name', { flavor: { ...flavor, name: 'large' } }],
    ['another model', { flavor: { ...flavor, modelName: 'other-model' } }],
    ['another temperature', { flavor: { ...flavor, temperature: 0.3 } }],
    ['another top_p', { flavor: { ...flavor, top_p: 0.9 } }],
    ['another budget', { flavor: { ...flavor, maxNewTurns: 8 } }],
    ['another output type', { flavor: { ...flavor, type: 'markdown' } }],
    ['another prompt content', { template: 'Summary:\n{}\nNew turns:\n{}' }],
    ['text moved into the prompt', { template: `${base.template}A`, text: base.text.slice(1) }],
  ])('changes with %s', (_, change) => {
    expect(resultCacheKey({ ...base, ...change })).not.toBe(key);
  });

  it('reads the reduce prompt only when the flavor reduces', () => {
    expect(resultCacheKey({ ...base, reduceTemplate: 'Other:\n{}' })).toBe(key);
    const reducing = { ...base, flavor: { ...flavor, reduceSummary: true } };
    expect(resultCacheKey({ ...reducing, reduceTemplate: 'Other:\n{}' })).not.toBe(resultCacheKey(reducing));
  });

  // Values computed before the text was read as bytes: results cached by earlier versions must
  // still be found (a change here needs CACHE_FORMAT bumped, not a new expected value).
  it.each([
    ['an ASCII text', base.text, 'b395a2808356d9d056516fc56a909875a9adfe576a6bfc37cd5beb30c3497050'],
    [
      'a text beyond ASCII',
      '王经理：你好。\nBob : 😀 e\u0301',
      '1732f365ed76e75b63d9e803b66df23e0ad527b8ec71bc15deeb24a99de2a281',
    ],
  ])('is the key earlier versions stored for %s', (_, text, expected) => {
    expect(resultCacheKey({ ...base, text })).toBe(expected);
  });

  it('ignores the prompt file name: the contents decide', () => {
    expect(resultCacheKey({ ...base, service: { ...base.service, promptName: 'renamed' } })).toBe(key);
  });
});
