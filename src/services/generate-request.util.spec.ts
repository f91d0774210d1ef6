import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateGenerateRequest } from './generate-request.util';
import { ServicesError } from './services.error';
import { parseManifestFile, type ServiceDefinition } from './manifest-validation.util';

function loadService(file = 'readme-style.yaml'): ServiceDefinition {
  const text = readFileSync(join(__dirname, '../../test/fixtures/manifests/ok', file), 'utf8');
  const result = parseManifestFile(text, {});
  if (!result.isValid || !result.services[0]) throw new Error('fixture must be valid');
  return result.services[0];
}

const service = loadService();
const valid = {
  content: Buffer.from('Alice : hello'),
  flavor: 'llama',
  temperature: undefined,
  top_p: undefined,
};

describe('validateGenerateRequest', () => {
  it('returns the text and the flavor with the manifest defaults', () => {
    const request = validateGenerateRequest(service, valid);
    expect(request.text).toBe('Alice : hello');
    expect(request.flavor).toMatchObject({ name: 'llama', temperature: 0.2, top_p: 0.7 });
    expect(request.fallbacks).toEqual([]);
  });

  it.each([
    ['big', ['medium', 'small']],
    ['medium', ['small']],
    ['small', []],
    ['spare', []],
  ])('(new) flavor %s fails over to %j, with the same sampling overrides', (flavor, chain) => {
    const chained = loadService('fallback-chain.yaml');
    const request = validateGenerateRequest(chained, { ...valid, flavor, temperature: '0.9' });
    expect(request.fallbacks.map((fallback) => fallback.name)).toEqual(chain);
    expect(request.fallbacks.every((fallback) => fallback.temperature === 0.9)).toBe(true);
    expect(chained.manifest.flavor.every((candidate) => candidate.temperature === 0.2)).toBe(true);
  });

  it.each([
    [{ temperature: '0.9', top_p: '0.5' }, 0.9, 0.5],
    [{ temperature: 0, top_p: 1 }, 0, 1],
    [{ temperature: '', top_p: '' }, 0.2, 0.7],
    [{ temperature: 2 }, 2, 0.7],
    [{ temperature: '   ', top_p: ' 0.5 ' }, 0.2, 0.5],
    [{ temperature: '1.', top_p: '.25' }, 1, 0.25],
    [{ temperature: '+0.5', top_p: null }, 0.5, 0.7],
  ])('applies overrides %p', (overrides, temperature, topP) => {
    const request = validateGenerateRequest(service, { ...valid, ...overrides });
    expect(request.flavor).toMatchObject({ temperature, top_p: topP });
    expect(service.manifest.flavor[0]).toMatchObject({ temperature: 0.2, top_p: 0.7 });
  });

  it.each([
    [{ content: undefined }, 'MISSING_CONTENT', /^Missing content$/],
    [{ content: Buffer.alloc(0) }, 'MISSING_CONTENT', /^Missing content$/],
    [{ content: '  \n ' }, 'MISSING_CONTENT', /^Missing content$/],
    [{ content: Buffer.from([0xff, 0xfe, 0x41]) }, 'INVALID_ENCODING', /UTF-8/],
    [{ content: 42 }, 'INVALID_PARAMETER', /content must be a string/],
    [{ flavor: undefined }, 'MISSING_FLAVOR', /"flavor" is required/],
    [{ flavor: '' }, 'MISSING_FLAVOR', /"flavor" is required/],
    [{ flavor: 'gpt-9' }, 'FLAVOR_NOT_FOUND', /^Flavor not found$/],
    [{ flavor: ['llama'] }, 'INVALID_PARAMETER', /flavor must be a string/],
    [{ temperature: '2.1' }, 'INVALID_PARAMETER', /temperature must be between 0 and 2/],
    [{ temperature: -0.1 }, 'INVALID_PARAMETER', /temperature/],
    [{ temperature: 'hot' }, 'INVALID_PARAMETER', /temperature must be a number/],
    [{ top_p: '0' }, 'INVALID_PARAMETER', /top_p must be greater than 0/],
    [{ top_p: 1.5 }, 'INVALID_PARAMETER', /top_p/],
    [{ top_p: 'NaN' }, 'INVALID_PARAMETER', /top_p must be a number/],
    [{ temperature: '0x1' }, 'INVALID_PARAMETER', /temperature must be a number in decimal notation/],
    [{ temperature: '1e400' }, 'INVALID_PARAMETER', /temperature must be a number/],
    [{ temperature: '1e0' }, 'INVALID_PARAMETER', /temperature must be a number/],
    [{ temperature: 'Infinity' }, 'INVALID_PARAMETER', /temperature must be a number/],
    [{ temperature: Number.POSITIVE_INFINITY }, 'INVALID_PARAMETER', /temperature must be a number/],
    [{ temperature: '0b1' }, 'INVALID_PARAMETER', /temperature must be a number/],
    [{ temperature: true }, 'INVALID_PARAMETER', /temperature must be a number/],
    [{ temperature: [1] }, 'INVALID_PARAMETER', /temperature must be a number/],
    [{ top_p: '.' }, 'INVALID_PARAMETER', /top_p must be a number/],
    [{ top_p: '0,5' }, 'INVALID_PARAMETER', /top_p must be a number/],
    [{ content: 'Alice : a\u0000b' }, 'INVALID_ENCODING', /NUL/],
    [{ content: Buffer.from([0x41, 0, 0x3a, 0]) }, 'INVALID_ENCODING', /NUL/],
    [{ content: Buffer.alloc(16) }, 'INVALID_ENCODING', /NUL/],
    [{ content: Buffer.from('Alice : hi', 'utf16le') }, 'INVALID_ENCODING', /byte order mark/],
    [{ content: Buffer.from([0xff, 0xfe, 0x00, 0xd8]) }, 'INVALID_ENCODING', /UTF-16LE/],
    [{ content: 'Alice : \ud800' }, 'INVALID_ENCODING', /unpaired surrogate/],
    [{ content: 'Alice : \ufffd' }, 'INVALID_ENCODING', /U\+FFFD/],
    [{ content: Buffer.from([0x41, 0xc3, 0x28]) }, 'INVALID_ENCODING', /not UTF-8/],
    [{ content: Buffer.from([0xed, 0xa0, 0x80]) }, 'INVALID_ENCODING', /UTF-8/],
  ])('refuses %p with %s', (overrides, code, message) => {
    let thrown: unknown;
    try {
      validateGenerateRequest(service, { ...valid, ...overrides });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ServicesError);
    expect((thrown as ServicesError).code).toBe(code);
    expect((thrown as ServicesError).message).toMatch(message);
  });

  it.each([
    ['UTF-8', Buffer.from('Alice : héllo')],
    [
      'UTF-8 with a byte order mark',
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Alice : héllo')]),
    ],
    [
      'UTF-16LE with a byte order mark',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Alice : héllo', 'utf16le')]),
    ],
    [
      'UTF-16BE with a byte order mark',
      Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('Alice : héllo', 'utf16le').swap16()]),
    ],
  ])('decodes %s', (_label, content) => {
    expect(validateGenerateRequest(service, { ...valid, content }).text).toBe('Alice : héllo');
  });
});
