import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeRejection } from './manifest.error';
import { parseManifestFile } from './manifest-validation.util';

const fixtures = join(__dirname, '../../test/fixtures/manifests');
const read = (folder: string, file: string) => readFileSync(join(fixtures, folder, file), 'utf8');
const env = { TEST_MODEL_NAME: 'from-env' };

describe('parseManifestFile: ok/', () => {
  it.each(readdirSync(join(fixtures, 'ok')))('%s is accepted', (file) => {
    const result = parseManifestFile(read('ok', file), env);
    expect(result).toMatchObject({ isValid: true });
  });

  it('reads the README style: the key is the route', () => {
    const result = parseManifestFile(read('ok', 'readme-style.yaml'), env);
    if (!result.isValid) throw new Error('expected valid');
    expect(result.services.map((service) => [service.key, service.route])).toEqual([
      ['summarize/en', 'summarize/en'],
    ]);
  });

  it("reads v1's style: the route field wins over the key", () => {
    const result = parseManifestFile(read('ok', 'v1-style.yaml'), env);
    if (!result.isValid) throw new Error('expected valid');
    expect(result.services[0]).toMatchObject({ key: 'en', route: 'summarize-en' });
  });

  it('publishes every field, defaults filled, route always present', () => {
    const result = parseManifestFile(read('ok', 'v1-style.yaml'), env);
    if (!result.isValid) throw new Error('expected valid');
    expect(result.services[0]?.published).toEqual({
      route: 'summarize-en',
      type: 'summary',
      fields: 2,
      name: 'summarize-en',
      description: { fr: 'English summary' },
      flavor: [
        {
          name: 'llama',
          modelName: 'meta-llama-31-8b-it',
          totalContextLength: 128000,
          maxGenerationLength: 2048,
          tokenizerClass: 'LlamaTokenizer',
          createNewTurnAfter: 250,
          summaryTurns: 3,
          maxNewTurns: 9,
          temperature: 0.2,
          top_p: 0.7,
          reduceSummary: false,
          consolidateSummary: false,
          type: 'abstractive',
        },
      ],
    });
  });

  it('(new) reads fallback: a chain of flavor names, null meaning none', () => {
    const result = parseManifestFile(read('ok', 'fallback-chain.yaml'), env);
    if (!result.isValid) throw new Error(JSON.stringify(result.problems));
    const flavors = result.services[0]?.manifest.flavor ?? [];
    expect(flavors.map((flavor) => flavor.fallback)).toEqual(['medium', 'small', undefined, null]);
  });

  it('resolves ${oc.env:...} inside a manifest', () => {
    const result = parseManifestFile(read('ok', 'env-interpolated.yaml'), env);
    if (!result.isValid) throw new Error('expected valid');
    expect(result.services[0]?.manifest.flavor[0]).toMatchObject({
      modelName: 'from-env',
      totalContextLength: 4096,
    });
  });

  it("reads v1's loose values: YAML 1.1 booleans, text description, numbers as strings, summaryTurns 0", () => {
    const result = parseManifestFile(read('ok', 'v1-loose-values.yaml'), { MANIFEST_TEMPERATURE: '0.35' });
    if (!result.isValid) throw new Error('expected valid');
    const [service] = result.services;
    expect(service?.manifest).toMatchObject({ fields: 2, description: 'Résumé français' });
    expect(service?.manifest.flavor[0]).toMatchObject({
      modelName: 'mistral-7b',
      totalContextLength: 8192,
      createNewTurnAfter: 200,
      summaryTurns: 0,
      temperature: 0.35,
      top_p: 0.7,
      reduceSummary: false,
      consolidateSummary: true,
      reduce_prompt: null,
    });
    // /services shows the values as v1 did: as written, interpolation resolved, nulls kept.
    expect(service?.published).toMatchObject({ fields: '2', description: 'Résumé français' });
    expect((service?.published.flavor as Record<string, unknown>[])[0]).toMatchObject({
      temperature: '0.35',
      createNewTurnAfter: '200',
      reduce_prompt: null,
      label: 'mistral-7b',
    });
  });

  it("publishes a v1 manifest in the file's key order, additions after the file's own keys", () => {
    const result = parseManifestFile(read('ok', 'readme-style.yaml'), env);
    if (!result.isValid) throw new Error('expected valid');
    const published = result.services[0]?.published ?? {};
    expect(Object.keys(published)).toEqual([
      'type',
      'fields',
      'name',
      'description',
      'backend',
      'flavor',
      'route',
    ]);
    const release = parseManifestFile(read('ok', 'v1-release.yaml'), env);
    if (!release.isValid) throw new Error('expected valid');
    const flavor = (release.services[0]?.published.flavor as Record<string, unknown>[])[0] ?? {};
    expect(Object.keys(flavor).slice(-4)).toEqual([
      'reduceSummary',
      'consolidateSummary',
      'reduce_prompt',
      'type',
    ]);
    expect(flavor.reduce_prompt).toBeNull();
    const loose = parseManifestFile(read('ok', 'v1-style.yaml'), env);
    if (!loose.isValid) throw new Error('expected valid');
    const looseFlavor = (loose.services[0]?.published.flavor as Record<string, unknown>[])[0] ?? {};
    expect(Object.keys(looseFlavor).slice(-4)).toEqual([
      'top_p',
      'reduceSummary',
      'consolidateSummary',
      'type',
    ]);
  });

  it("resolves node references against config.yaml, as Hydra composed v1's files", () => {
    const text = read('ok', 'v1-release.yaml').replace('fr: English summary', 'fr: ${swagger.description}');
    const result = parseManifestFile(text, env, {
      swagger: { description: '${oc.env:DESCRIPTION,Summaries}' },
    });
    if (!result.isValid) throw new Error('expected valid');
    expect(result.services[0]?.published.description).toEqual({ fr: 'Summaries' });
  });

  it('keeps an unknown field and warns about it', () => {
    const text = read('ok', 'readme-style.yaml').replace(
      '  backend: vLLM',
      '  backend: vLLM\n  owner: team-a',
    );
    const result = parseManifestFile(text, env);
    if (!result.isValid) throw new Error('expected valid');
    expect(result.warnings).toEqual(['service "summarize/en": unknown field "owner" is ignored']);
    expect(result.services[0]?.published.owner).toBe('team-a');
  });
});

describe('parseManifestFile: not-ok/', () => {
  it.each([
    ['invalid-yaml.yaml', undefined, undefined, /^invalid YAML: /],
    ['list-at-top.yaml', undefined, undefined, /must map service keys/],
    ['fields-3.yaml', 'summarize/en', 'fields', /fields must be 1 or 2/],
    ['type-unknown.yaml', 'summarize/en', 'type', /type must be one of summary/],
    ['name-path.yaml', 'summarize/en', 'name', /name must match/],
    [
      'generation-not-below-context.yaml',
      'summarize/en',
      'flavor[0].maxGenerationLength',
      /less than totalContextLength/,
    ],
    ['negative-context.yaml', 'summarize/en', 'flavor[0].totalContextLength', /must be positive/],
    ['fractional-turns.yaml', 'summarize/en', 'flavor[0].summaryTurns', /must be an integer/],
    ['temperature-high.yaml', 'summarize/en', 'flavor[0].temperature', /between 0 and 2/],
    ['top-p-zero.yaml', 'summarize/en', 'flavor[0].top_p', /greater than 0 and at most 1/],
    ['boolean-text.yaml', 'summarize/en', 'flavor[0].reduceSummary', /true or false/],
    ['missing-model.yaml', 'summarize/en', 'flavor[0].modelName', /modelName is required/],
    ['output-type-unknown.yaml', 'summarize/en', 'flavor[0].type', /abstractive, extractive, markdown/],
    ['description-not-text.yaml', 'summarize/en', 'description', /map of language to text/],
    ['route-dotdot.yaml', 'summarize/../admin', 'key', /contain no "\.\."/],
    ['route-leading-slash.yaml', '/summarize', 'key', /no leading or trailing/],
    ['flavor-empty.yaml', 'summarize/en', 'flavor', /flavor must not be empty/],
    ['flavor-duplicate.yaml', 'summarize/en', 'flavor', /unique \("llama" appears twice\)/],
    ['route-duplicate-in-file.yaml', 'summarize/en', 'route', /already used by service "en"/],
    ['env-unset.yaml', 'summarize/en', undefined, /SURELY_UNSET_VARIABLE is not set/],
    ['summary-turns-negative.yaml', 'en', 'flavor[0].summaryTurns', /summaryTurns must be 0 or more/],
    [
      'temperature-not-a-number.yaml',
      'en',
      'flavor[0].temperature',
      /temperature must be (a number|between 0 and 2)/,
    ],
    ['reduce-prompt-path.yaml', 'en', 'flavor[0].reduce_prompt', /reduce_prompt must match/],
    ['node-reference-missing.yaml', 'en', undefined, /"swagger.nowhere" not found/],
    ['boolean-y.yaml', 'en', 'flavor[0].consolidateSummary', /true or false/],
    [
      'fallback-unknown.yaml',
      'summarize/en',
      'flavor[0].fallback',
      /fallback "ghost" is not a flavor of this service \(flavors: big, small\)/,
    ],
    ['fallback-self.yaml', 'summarize/en', 'flavor[0].fallback', /fallback "big" names the flavor itself/],
    ['fallback-cycle.yaml', 'summarize/en', 'flavor[0].fallback', /fallback makes a cycle: a -> b -> c -> a/],
  ])('%s is rejected: service %p, field %p', (file, serviceKey, field, message) => {
    const result = parseManifestFile(read('not-ok', file), env);
    if (result.isValid) throw new Error(`${file} was accepted`);
    const [first] = result.problems;
    expect(first?.serviceKey).toBe(serviceKey);
    expect(first?.field).toBe(field);
    expect(first?.message).toMatch(message);
  });

  it('covers every not-ok fixture in the table above', () => {
    for (const file of readdirSync(join(fixtures, 'not-ok'))) {
      expect(parseManifestFile(read('not-ok', file), env)).toMatchObject({ isValid: false });
    }
  });

  it('describes a rejection on one line naming file, service and field', () => {
    const result = parseManifestFile(read('not-ok', 'top-p-zero.yaml'), env);
    if (result.isValid) throw new Error('expected invalid');
    const line = describeRejection('services/top-p-zero.yaml', result.problems);
    expect(line).toBe(
      'Manifest services/top-p-zero.yaml rejected: service "summarize/en", field "flavor[0].top_p": top_p must be greater than 0 and at most 1',
    );
    expect(line).not.toContain('\n');
  });
});
