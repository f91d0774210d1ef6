/** Parsers for configuration values: each returns the value or a reason it is invalid. */
export type ValueParser<T> = (raw: unknown) => { value: T } | { reason: string };

export const positiveInteger: ValueParser<number> = (raw) => {
  const number = toNumber(raw);
  return Number.isInteger(number) && number > 0
    ? { value: number }
    : { reason: 'must be a positive integer' };
};

export const nonNegativeInteger: ValueParser<number> = (raw) => {
  const number = toNumber(raw);
  return Number.isInteger(number) && number >= 0
    ? { value: number }
    : { reason: 'must be a non-negative integer' };
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

/** Where the broker is: one Redis server by URL, or the Sentinels that name the current master. */
export type BrokerAddress =
  | { kind: 'redis'; url: string }
  | {
      kind: 'sentinel';
      sentinels: { host: string; port: number }[];
      masterName: string;
      db: number;
      /** From the URL's `:password@`, when given; BROKER_PASS wins over it. Secret. */
      password: string | undefined;
    };

const REDIS_URL_REASON =
  'must be a redis:// or rediss:// URL (redis://host:port[/db]), or redis+sentinel://host:port[,host:port...]/<master name>[/<db>]';

/**
 * Reads `SERVICES_BROKER`. Returns the address, or a reason that never quotes the URL (it may
 * hold a password).
 */
export function parseBrokerUrl(raw: string): BrokerAddress | { reason: string } {
  const text = raw.trim();
  if (/^redis\+sentinel:\/\//i.test(text)) return parseSentinelUrl(text.slice('redis+sentinel://'.length));
  const reason = REDIS_URL_REASON;
  try {
    const url = new URL(text);
    const database = url.pathname.replace(/^\//, '');
    const isValid =
      (url.protocol === 'redis:' || url.protocol === 'rediss:') &&
      url.hostname !== '' &&
      (database === '' || /^\d+$/.test(database));
    return isValid ? { kind: 'redis', url: text } : { reason };
  } catch {
    return { reason };
  }
}

function parseSentinelUrl(rest: string): BrokerAddress | { reason: string } {
  const invalid = (detail: string) => ({
    reason: `must be redis+sentinel://host:port[,host:port...]/<master name>[/<db>] (${detail})`,
  });
  const at = rest.lastIndexOf('@', rest.indexOf('/') === -1 ? rest.length : rest.indexOf('/'));
  const userInfo = at === -1 ? '' : rest.slice(0, at);
  const [hostList = '', masterName = '', database = '', ...extra] = rest.slice(at + 1).split('/');
  if (hostList === '') return invalid('no Sentinel address');
  const sentinels: { host: string; port: number }[] = [];
  for (const entry of hostList.split(',')) {
    const match = /^(\[[0-9a-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/i.exec(entry);
    const port = Number(match?.[2] ?? 26379);
    if (!match?.[1] || port < 1 || port > 65535) return invalid('a Sentinel address is not host:port');
    sentinels.push({ host: match[1].replace(/^\[|\]$/g, ''), port });
  }
  if (masterName === '' || !/^[A-Za-z0-9._-]+$/.test(masterName)) return invalid('no master name');
  if (extra.length > 0 || (database !== '' && !/^\d+$/.test(database))) {
    return invalid('the database must be a number');
  }
  const password = userInfo.includes(':')
    ? decodeURIComponent(userInfo.slice(userInfo.indexOf(':') + 1))
    : '';
  return {
    kind: 'sentinel',
    sentinels,
    masterName,
    db: Number(database || 0),
    password: password || undefined,
  };
}

export const redisUrl: ValueParser<string> = (raw) => {
  if (typeof raw !== 'string') return { reason: REDIS_URL_REASON };
  const address = parseBrokerUrl(raw);
  return 'reason' in address ? address : { value: raw.trim() };
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

/** A bind address: an IPv4 or IPv6 address, or a host name (`0.0.0.0`, `::`, `127.0.0.1`, `localhost`). */
export const bindHost: ValueParser<string> = (raw) => {
  const text = (scalarText(raw) ?? '').trim();
  return /^(?:[A-Za-z0-9.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/.test(text)
    ? { value: text }
    : { reason: 'must be an IP address or a host name to listen on (0.0.0.0, ::, 127.0.0.1)' };
};

/**
 * Where the queue lives, for log lines: the broker URL without credentials
 * (`redis://127.0.0.1:6380/0`, `redis+sentinel://s1:26379,s2:26379/mymaster/0`). Two gateways
 * whose lines name different brokers never share jobs. Never returns a password. Pure.
 */
export function brokerLabel(raw: string): string {
  const address = parseBrokerUrl(raw);
  if ('reason' in address) return 'an invalid broker URL';
  if (address.kind === 'sentinel') {
    const hosts = address.sentinels.map(({ host, port }) => `${host}:${port}`).join(',');
    return `redis+sentinel://${hosts}/${address.masterName}/${address.db}`;
  }
  const url = new URL(address.url);
  return `${url.protocol}//${url.host}/${url.pathname.replace(/^\//, '') || '0'}`;
}
