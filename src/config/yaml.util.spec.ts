import { parseHydraYaml, readYaml11Boolean } from './yaml.util';

describe('parseHydraYaml: YAML 1.1 booleans, as PyYAML read v1 files', () => {
  it.each([
    ['yes', true],
    ['Yes', true],
    ['YES', true],
    ['on', true],
    ['ON', true],
    ['true', true],
    ['True', true],
    ['no', false],
    ['No', false],
    ['off', false],
    ['Off', false],
    ['false', false],
    ['FALSE', false],
  ])('%s is %s', (word, expected) => {
    expect(parseHydraYaml(`value: ${word}`)).toEqual({ value: expected });
  });

  it.each([['y'], ['n'], ['yEs'], ['"yes"'], ["'off'"]])('%s stays a string', (word) => {
    const value = (parseHydraYaml(`value: ${word}`) as { value: unknown }).value;
    expect(typeof value).toBe('string');
  });

  it('keeps numbers, nulls and key order as js-yaml reads them', () => {
    const parsed = parseHydraYaml('z: 1\na: 0.5\nm: ~\nb: null\n');
    expect(parsed).toEqual({ z: 1, a: 0.5, m: null, b: null });
    expect(Object.keys(parsed as object)).toEqual(['z', 'a', 'm', 'b']);
  });
});

describe('readYaml11Boolean', () => {
  it.each([
    ['yes', true],
    ['OFF', false],
    ['true', true],
    ['1', undefined],
    ['', undefined],
  ])('%j reads as %s', (text, expected) => {
    expect(readYaml11Boolean(text)).toBe(expected);
  });
});
