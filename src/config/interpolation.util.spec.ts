import { ConfigError } from './config.error';
import { decodeScalar, interpolateString, interpolateTree } from './interpolation.util';

const env = { HOST: 'redis.internal', RETRIES: '4', EMPTY_VAR: '', FLAG: 'true', URL: 'http://x:1/v1' };

describe('interpolateString', () => {
  it.each([
    ['plain text', 'plain text'],
    ['${oc.env:HOST}', 'redis.internal'],
    ['${oc.env:MISSING,fallback}', 'fallback'],
    ['${oc.env:MISSING,}', ''],
    ['${oc.env:MISSING, spaced }', 'spaced'],
    ['${oc.env:MISSING,http://localhost:9000/v1}', 'http://localhost:9000/v1'],
    ['${oc.env:EMPTY_VAR,ignored}', ''],
    ['${oc.env:RETRIES,6}', '4'],
    ['${oc.decode:${oc.env:RETRIES,6}}', 4],
    ['${oc.decode:${oc.env:MISSING,6}}', 6],
    ['${oc.decode:${oc.env:MISSING,0.5}}', 0.5],
    ['${oc.decode:${oc.env:FLAG,false}}', true],
    ['${oc.decode:${oc.env:MISSING,null}}', null],
    ['${oc.decode:${oc.env:MISSING,hello}}', 'hello'],
    ['${oc.env:MISSING,null}', null],
    ['redis://${oc.env:HOST,localhost}:6379', 'redis://redis.internal:6379'],
    ['redis://${oc.env:MISSING,localhost}:${oc.env:RETRIES}/0', 'redis://localhost:4/0'],
    ['${oc.env:URL}', 'http://x:1/v1'],
    ['"${oc.env:MISSING,/docs}"', '"/docs"'],
    ["${oc.env:MISSING,'quoted, value'}", 'quoted, value'],
    ['cost \\${not.an.interpolation}', 'cost ${not.an.interpolation}'],
  ])('%s -> %p', (input, expected) => {
    expect(interpolateString(input, env, 'field')).toEqual(expected);
  });

  it.each([
    ['${oc.env:MISSING}', /MISSING is not set/],
    ['${oc.env:HOST', /unterminated/],
    ['${other.resolver:x}', /unknown resolver "other.resolver"/],
    ['${api_params.timeout}', /interpolation key "api_params.timeout" not found/],
    ['${a b}', /unsupported interpolation/],
    ['${oc.decode:a,b}', /exactly one argument/],
  ])('%s is refused', (input, message) => {
    expect(() => interpolateString(input, env, 'api_params.timeout')).toThrow(message);
    expect(() => interpolateString(input, env, 'api_params.timeout')).toThrow(ConfigError);
  });

  it('names the field in the error', () => {
    expect(() => interpolateString('${oc.env:NOPE}', env, 'services_broker.url')).toThrow(
      'field "services_broker.url": environment variable NOPE is not set and has no default',
    );
  });
});

describe('interpolateTree', () => {
  it('resolves nested maps and lists without touching other scalars', () => {
    const tree = {
      a: { b: '${oc.env:HOST}', c: 3, d: [true, '${oc.decode:${oc.env:RETRIES}}'] },
      e: null,
    };
    expect(interpolateTree(tree, env)).toEqual({
      a: { b: 'redis.internal', c: 3, d: [true, 4] },
      e: null,
    });
    expect(tree.a.b).toBe('${oc.env:HOST}');
  });

  it('reports the path of a list item', () => {
    expect(() => interpolateTree({ list: ['ok', '${oc.env:NOPE}'] }, env)).toThrow('"list[1]"');
  });
});

describe('node interpolation, as OmegaConf resolves it in v1 files', () => {
  const root = {
    swagger: { title: 'Gateway', description: 'Summaries', url: '${oc.env:MISSING,/docs}' },
    api_params: { timeout: '${oc.decode:${oc.env:RETRIES,6}}', list: ['first', '${...swagger.title}'] },
    services: {
      en: {
        name: 'summarize-en',
        description: { en: '${swagger.description}', fr: '${.en} (fr)' },
        flavor: [{ name: 'llama', modelName: '${services.en.name}-model' }],
      },
    },
    loop: { a: '${loop.b}', b: '${loop.a}' },
  };
  const resolveAt = (path: string) => {
    let node: unknown = root;
    for (const key of path.split('.')) node = (node as Record<string, unknown>)[key];
    return interpolateTree(node, env, path, root);
  };

  it.each([
    ['swagger.url', '/docs'],
    ['services.en.description', { en: 'Summaries', fr: 'Summaries (fr)' }],
    ['services.en.flavor', [{ name: 'llama', modelName: 'summarize-en-model' }]],
  ])('%s resolves to %p', (path, expected) => {
    expect(resolveAt(path)).toEqual(expected);
  });

  it('keeps the type of a whole-string reference (a number, a mapping)', () => {
    expect(interpolateString('${api_params.timeout}', env, 'x', root)).toBe(4);
    expect(interpolateString('${swagger}', env, 'x', root)).toEqual({
      title: 'Gateway',
      description: 'Summaries',
      url: '/docs',
    });
  });

  it.each([
    ['${oc.select:swagger.title,fallback}', 'Gateway'],
    ['${oc.select:swagger.nope,fallback}', 'fallback'],
    ['${oc.select:swagger.nope}', null],
    ['${oc.select:nope.deeper,${oc.env:HOST}}', 'redis.internal'],
    ['title: ${swagger.title}!', 'title: Gateway!'],
  ])('%s -> %p', (text, expected) => {
    expect(interpolateString(text, env, 'x', root)).toEqual(expected);
  });

  it('resolves a relative reference from inside a list', () => {
    expect(interpolateTree(root.api_params, env, 'api_params', root)).toEqual({
      timeout: 4,
      list: ['first', 'Gateway'],
    });
  });

  it.each([
    ['${swagger.nope}', /interpolation key "swagger.nope" not found/],
    ['${loop.a}', /refers to itself/],
    ['${.....too.high}', /invalid node reference/],
  ])('%s is refused', (text, message) => {
    expect(() => interpolateString(text, env, 'x', root)).toThrow(message);
  });
});

describe('decodeScalar', () => {
  it.each([
    ['6', 6],
    ['-3', -3],
    ['1e3', 1000],
    ['TRUE', true],
    ['False', false],
    ['null', null],
    ['text', 'text'],
    ["'6'", '6'],
    [null, null],
  ])('%p -> %p', (input, expected) => {
    expect(decodeScalar(input)).toEqual(expected);
  });
});
