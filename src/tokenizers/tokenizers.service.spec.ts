import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOKENIZER_FAMILIES } from './tokenizer-resolution.util';
import { TokenizersService } from './tokenizers.service';

const transcript = readFileSync(join(__dirname, '../../test/fixtures/transcripts/ES2004a.txt'), 'utf8');
const service = new TokenizersService();

describe.each(TOKENIZER_FAMILIES)('tokenizer %s', (family) => {
  const tokenizer = service.family(family);

  it.each([
    ['hello world', 'hello world'],
    ['Bonjour, ça va ? Très bien.', 'accents'],
    ['literal <|endoftext|> in a transcript', 'special token text'],
  ])('round-trips %p (%s)', (text) => {
    const ids = tokenizer.encode(text);
    expect(ids.length).toBeGreaterThan(0);
    expect(tokenizer.count(text)).toBe(ids.length);
    expect(tokenizer.decode(ids)).toBe(text);
  });

  it('counts nothing for an empty text', () => {
    expect(tokenizer.count('')).toBe(0);
  });

  it('counts a real transcript line by line within 10 % of its whole count', () => {
    const lines = transcript.split('\n').filter((line) => line.trim() !== '');
    const sumOfLines = lines.reduce((sum, line) => sum + tokenizer.count(line), 0);
    const whole = tokenizer.count(lines.join('\n'));
    expect(Math.abs(whole - sumOfLines) / whole).toBeLessThan(0.1);
  });
});

describe('vocabularies differ as they should', () => {
  it.each([
    ['cl100k_base', 'o200k_base'],
    ['llama2', 'llama3'],
    ['llama2', 'mistral'],
  ] as const)('%s and %s give different ids for the same text', (first, second) => {
    const text = 'The remote control project kick-off meeting.';
    expect(service.family(first).encode(text)).not.toEqual(service.family(second).encode(text));
  });
});
