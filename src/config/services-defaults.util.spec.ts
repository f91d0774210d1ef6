import { servicesDefaultsOrder } from './services-defaults.util';
import { parseHydraYaml } from './yaml.util';

describe('servicesDefaultsOrder', () => {
  it.each([
    ["v1's block list", 'defaults :\n  - _self_\n  - services :\n    - en\n    - fr\n', ['en', 'fr']],
    ['a flow list', 'defaults:\n  - services: [fr, en]\n', ['fr', 'en']],
    ['one name', 'defaults:\n  - services: en\n', ['en']],
    ['a package', 'defaults:\n  - services@services: [en]\n', ['en']],
    ['duplicates once, blanks dropped', 'defaults:\n  - services: [en, "", en, fr]\n', ['en', 'fr']],
    ['an empty list', 'defaults:\n  - services: []\n', []],
    ['only _self_', 'defaults:\n  - _self_\n', undefined],
    ['another group', 'defaults:\n  - db: mysql\n', undefined],
    ['no defaults', 'prompt_path: ./prompts/\n', undefined],
    ['an empty file', '', undefined],
  ])('%s', (_name, yaml, expected) => {
    expect(servicesDefaultsOrder(parseHydraYaml(yaml))).toEqual(expected);
  });
});
