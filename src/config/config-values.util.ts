/** Parsers for configuration values: each returns the value or a reason it is invalid. */
export type ValueParser<T> = (raw: unknown) => { value: T } | { reason: string };

export const positiveInteger: ValueParser<number> = (raw) => {
  const number = toNumber(raw);
  return Number.isInteger(number) && number > 0
    ? { value: number }
    : { reason: 'must be a positive integer' };
};

export const port: ValueParser<number> = (raw) => {
  const number = toNumber(raw);
  return Number.isInteger(number) && number >= 0 && number <= 65535
    ? { value: number }
    : { reason: 'must be a port number (0-65535)' };
};

export const positiveNumber: ValueParser<number> = (raw) => {
  const number = toNumber(raw);
  return Number.isFinite(number) && number > 0 ? { value: number } : { reason: 'must be a positive number' };
};

export const nonNegativeNumber: ValueParser<number> = (raw) => {
  const number = toNumber(raw);
  return Number.isFinite(number) && number >= 0 ? { value: number } : { reason: 'must be a number >= 0' };
};

export const nonEmptyString: ValueParser<string> = (raw) =>
  typeof raw === 'string' && raw.trim() !== ''
    ? { value: raw.trim() }
    : typeof raw === 'number'
      ? { value: String(raw) }
      : { reason: 'must be a non-empty string' };

export const anyString: ValueParser<string> = (raw) => {
  const text = scalarText(raw);
  return text === undefined ? { reason: 'must be a string' } : { value: text };
};

export function oneOf<T extends string>(allowed: readonly T[]): ValueParser<T> {
  return (raw) => {
    const text = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
    const match = allowed.find((candidate) => candidate === text);
    return match ? { value: match } : { reason: `must be one of ${allowed.join(', ')}` };
  };
}

export const httpUrl: ValueParser<string> = (raw) => {
  if (typeof raw !== 'string') return { reason: 'must be an http(s) URL' };
  try {
    const url = new URL(raw.trim());
    return url.protocol === 'http:' || url.protocol === 'https:'
      ? { value: raw.trim() }
      : { reason: 'must be an http(s) URL' };
  } catch {
    return { reason: 'must be an http(s) URL' };
  }
};

export const redisUrl: ValueParser<string> = (raw) => {
  const reason = 'must be a redis:// or rediss:// URL (redis://host:port[/db])';
  if (typeof raw !== 'string') return { reason };
  try {
    const url = new URL(raw.trim());
    const database = url.pathname.replace(/^\//, '');
    const isValid =
      (url.protocol === 'redis:' || url.protocol === 'rediss:') &&
      url.hostname !== '' &&
      (database === '' || /^\d+$/.test(database));
    return isValid ? { value: raw.trim() } : { reason };
  } catch {
    return { reason };
  }
};

export const urlPath: ValueParser<string> = (raw) =>
  typeof raw === 'string' && /^\/[A-Za-z0-9._~\-/]*$/.test(raw.trim()) && raw.trim() !== '/'
    ? { value: raw.trim().replace(/\/+$/, '') }
    : { reason: 'must be a URL path such as /docs' };

/** A URL path, or empty for "turned off" (v1: `SWAGGER_URL=` served no docs). */
export const optionalUrlPath: ValueParser<string> = (raw) =>
  typeof raw === 'string' && raw.trim() === '' ? { value: '' } : urlPath(raw);

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1_000,
  mb: 1_000_000,
  gb: 1_000_000_000,
  kib: 1_024,
  mib: 1_048_576,
  gib: 1_073_741_824,
};

/** Bytes, as a plain integer or with a unit: `20MB`, `512kb`, `1MiB`. */
export const byteSize: ValueParser<number> = (raw) => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(scalarText(raw) ?? '');
  const multiplier = match ? SIZE_UNITS[(match[2] ?? '').toLowerCase()] : undefined;
  if (!match || multiplier === undefined) {
    return { reason: 'must be a size in bytes, optionally with a unit (20MB, 512kb, 1MiB)' };
  }
  const bytes = Math.floor(Number(match[1]) * multiplier);
  return bytes > 0 ? { value: bytes } : { reason: 'must be greater than 0' };
};

/** Comma-separated list; empty entries dropped. */
export const commaList: ValueParser<string[]> = (raw) => ({
  value: (scalarText(raw) ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== ''),
});

/** `EMPTY` or empty means "no secret", as v1. */
export const optionalSecret: ValueParser<string | undefined> = (raw) => {
  const text = scalarText(raw) ?? '';
  return { value: text === '' || text === 'EMPTY' ? undefined : text };
};

function toNumber(raw: unknown): number {
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'string' && raw.trim() !== '') return Number(raw.trim());
  return Number.NaN;
}

/** The text of a YAML or environment scalar (null and undefined read as empty); undefined for a mapping or list. */
function scalarText(raw: unknown): string | undefined {
  if (raw === null || raw === undefined) return '';
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  return undefined;
}
