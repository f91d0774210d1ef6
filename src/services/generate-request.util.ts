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
  text: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

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
  return {
    service,
    // A copy: the manifest's flavor must keep its own values for the next request.
    flavor: {
      // eslint-disable-next-line @typescript-eslint/no-misused-spread -- FlavorManifest has no methods
      ...flavor,
      temperature: temperature ?? flavor.temperature,
      top_p: topP ?? flavor.top_p,
    },
    text,
  };
}

function decodeContent(content: unknown): string {
  let text: string;
  if (Buffer.isBuffer(content)) {
    try {
      text = strictUtf8.decode(content);
    } catch {
      throw new ServicesError('file must be UTF-8 encoded text', 'INVALID_ENCODING');
    }
  } else if (typeof content === 'string') {
    text = content;
  } else if (content === undefined || content === null) {
    text = '';
  } else {
    throw new ServicesError('content must be a string', 'INVALID_PARAMETER');
  }
  if (text.trim() === '') {
    throw new ServicesError('Missing content', 'MISSING_CONTENT');
  }
  return text;
}

/** Empty form fields count as absent, as browsers send them for untouched inputs. */
function readOptionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') {
    throw new ServicesError(`${field} must be a string`, 'INVALID_PARAMETER');
  }
  return value;
}

function readOptionalNumber(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const number =
    typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN;
  if (!Number.isFinite(number)) {
    throw new ServicesError(`${field} must be a number`, 'INVALID_PARAMETER');
  }
  return number;
}
