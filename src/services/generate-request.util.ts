import type { FlavorParameters } from '../jobs/job-payload';
import type { ServiceDefinition } from './manifest-validation.util';
import { ServicesError } from './services.error';

/** The fields of a generate request as received, from a multipart form or a JSON body. */
export interface RawGenerateRequest {
  /** The uploaded file's bytes (multipart) or the JSON `content` / form `file` text. */
  content: unknown;
  flavor: unknown;
  temperature: unknown;
  top_p: unknown;
}

/** A validated request: what a job needs, flavor parameters after per-request overrides. */
export interface GenerateRequest {
  service: ServiceDefinition;
  /** A plain copy of the flavor, per-request overrides applied. */
  flavor: FlavorParameters;
  /** (new) The flavors its `fallback` chain leads to, in order, the same overrides applied. */
  fallbacks: FlavorParameters[];
  text: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const strictUtf16 = {
  le: new TextDecoder('utf-16le', { fatal: true }),
  be: new TextDecoder('utf-16be', { fatal: true }),
};
/** Decimal notation only: no hex, no exponent, no `Infinity`, no `NaN` (api.md section 4). */
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const DECIMAL_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/**
 * Validates a generate request against its service (docs/api.md section 4), in v1's order: content,
 * flavor, then the sampling overrides. Returns the text and the flavor with overrides applied;
 * throws ServicesError naming the field. Never mutates the service's manifest.
 */
export function validateGenerateRequest(
  service: ServiceDefinition,
  raw: RawGenerateRequest,
): GenerateRequest {
  const text = decodeContent(raw.content);
  const flavorName = readOptionalString(raw.flavor, 'flavor');
  if (flavorName === undefined) {
    throw new ServicesError('Missing flavor: the field "flavor" is required', 'MISSING_FLAVOR');
  }
  const flavor = service.manifest.flavor.find((candidate) => candidate.name === flavorName);
  if (!flavor) {
    throw new ServicesError('Flavor not found', 'FLAVOR_NOT_FOUND');
  }
  const temperature = readOptionalNumber(raw.temperature, 'temperature');
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) {
    throw new ServicesError('temperature must be between 0 and 2', 'INVALID_PARAMETER');
  }
  const topP = readOptionalNumber(raw.top_p, 'top_p');
  if (topP !== undefined && !(topP > 0 && topP <= 1)) {
    throw new ServicesError('top_p must be greater than 0 and at most 1', 'INVALID_PARAMETER');
  }
  // Copies: the manifest's flavors must keep their own values for the next request.
  const withOverrides = (parameters: FlavorParameters): FlavorParameters => ({
    ...parameters,
    temperature: temperature ?? parameters.temperature,
    top_p: topP ?? parameters.top_p,
  });
  const fallbacks: FlavorParameters[] = [];
  const tried = new Set([flavor.name]);
  for (let next = flavor.fallback; typeof next === 'string' && !tried.has(next);) {
    const name: string = next;
    const fallback = service.manifest.flavor.find((candidate) => candidate.name === name);
    if (!fallback) break; // the manifest's validation refuses such a name
    tried.add(name);
    fallbacks.push(withOverrides(fallback));
    next = fallback.fallback;
  }
  return { service, flavor: withOverrides(flavor), fallbacks, text };
}

function decodeContent(content: unknown): string {
  let text: string;
  if (Buffer.isBuffer(content)) {
    text = decodeText(content);
  } else if (typeof content === 'string') {
    text = content;
  } else if (content === undefined || content === null) {
    text = '';
  } else {
    throw new ServicesError('content must be a string', 'INVALID_PARAMETER');
  }
  const problem = textProblem(text);
  if (problem !== undefined) throw new ServicesError(problem, 'INVALID_ENCODING');
  if (text.trim() === '') {
    throw new ServicesError('Missing content', 'MISSING_CONTENT');
  }
  return text;
}

/**
 * An uploaded file's text: UTF-8 (a byte order mark dropped), or UTF-16 when the file starts with
 * a UTF-16 byte order mark. A UTF-16 file without one is not guessed at: its NUL bytes make
 * `textProblem` refuse it.
 */
function decodeText(bytes: Buffer): string {
  const utf16 =
    bytes[0] === 0xff && bytes[1] === 0xfe ? 'le' : bytes[0] === 0xfe && bytes[1] === 0xff ? 'be' : undefined;
  try {
    if (utf16 !== undefined) return strictUtf16[utf16].decode(bytes.subarray(2));
    return strictUtf8.decode(bytes);
  } catch {
    throw new ServicesError(
      utf16 === undefined
        ? 'file must be UTF-8 encoded text: it holds bytes that are not UTF-8'
        : `file must be UTF-8 encoded text: it starts with a UTF-16${utf16.toUpperCase()} byte order mark but is not valid UTF-16`,
      'INVALID_ENCODING',
    );
  }
}

/**
 * What makes a decoded text unfit for the LLM, the same for every way it arrived (multipart file,
 * form field, JSON `content`): a NUL character (binary data, or UTF-16 without a byte order
 * mark), an unpaired surrogate (a JSON `\ud800` escape), or U+FFFD, the mark a lenient decoder
 * (a multipart text field's) leaves where bytes were not UTF-8.
 */
function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) {
    return 'content holds NUL characters: it must be UTF-8 text (a UTF-16 file needs its byte order mark)';
  }
  if (UNPAIRED_SURROGATE.test(text))
    return 'content holds an unpaired surrogate: it must be valid Unicode text';
  if (text.includes('\ufffd')) {
    return 'content holds U+FFFD: bytes that were not UTF-8 were replaced on the way; send UTF-8 text';
  }
  return undefined;
}

/** Empty form fields count as absent, as browsers send them for untouched inputs. */
function readOptionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') {
    throw new ServicesError(`${field} must be a string`, 'INVALID_PARAMETER');
  }
  return value;
}

/** Strict numbers: a JSON number, or a string in decimal notation; blank means absent. */
function readOptionalNumber(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && value.trim() === '') return undefined;
  const number =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && DECIMAL_NUMBER.test(value.trim())
        ? Number(value.trim())
        : Number.NaN;
  if (!Number.isFinite(number)) {
    throw new ServicesError(`${field} must be a number in decimal notation`, 'INVALID_PARAMETER');
  }
  return number;
}
