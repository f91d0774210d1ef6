import { isAbsolute, join, resolve } from 'node:path';
import { type AppConfig, LOG_FORMATS, LOG_LEVELS, ROLES } from './app-config';
import { ConfigError } from './config.error';
import {
  anyString,
  bindHost,
  byteSize,
  commaList,
  httpUrl,
  nonEmptyString,
  nonNegativeInteger,
  nonNegativeNumber,
  oneOf,
  optionalSecret,
  port,
  positiveInteger,
  positiveNumber,
  redisUrl,
  optionalUrlPath,
  type ValueParser,
} from './config-values.util';
import { type EnvironmentVariables, interpolateTree } from './interpolation.util';
import { servicesDefaultsOrder } from './services-defaults.util';
import { readYaml11Boolean } from './yaml.util';

export const DEFAULT_SWAGGER_TITLE = 'LLM Gateway';
export const DEFAULT_SWAGGER_DESCRIPTION =
  'LLM tasks declared in YAML, served as REST endpoints backed by a job queue.';

interface VariableSpec {
  parser: ValueParser<unknown>;
  defaultValue: string;
  /** A secret's value never appears in an error message. */
  isSecret?: boolean;
}

/** Every environment variable of docs/api.md section 1, with its default. */
export const VARIABLES = {
  SERVICE_NAME: { parser: nonEmptyString, defaultValue: 'LLM_Gateway' },
  OPENAI_API_BASE: { parser: httpUrl, defaultValue: 'http://localhost:9000/v1' },
  OPENAI_API_TOKEN: { parser: anyString, defaultValue: 'EMPTY', isSecret: true },
  HTTP_PORT: { parser: port, defaultValue: '8000' },
  HOST: { parser: bindHost, defaultValue: '0.0.0.0' },
  HTTP_HEADERS_TIMEOUT: { parser: positiveNumber, defaultValue: '10' },
  HTTP_REQUEST_TIMEOUT: { parser: positiveNumber, defaultValue: '300' },
  CONCURRENCY: { parser: positiveInteger, defaultValue: '2' },
  SPLIT_THREADS: { parser: nonNegativeInteger, defaultValue: '1' },
  TIMEOUT: { parser: positiveNumber, defaultValue: '60' },
  SWAGGER_URL: { parser: optionalUrlPath, defaultValue: '/docs' },
  SWAGGER_TITLE: { parser: anyString, defaultValue: DEFAULT_SWAGGER_TITLE },
  SWAGGER_DESCRIPTION: { parser: anyString, defaultValue: DEFAULT_SWAGGER_DESCRIPTION },
  // A broker URL may carry a password (redis://:secret@host), so it is treated as a secret.
  SERVICES_BROKER: { parser: redisUrl, defaultValue: 'redis://localhost:6379/0', isSecret: true },
  BROKER_PASS: { parser: optionalSecret, defaultValue: 'EMPTY', isSecret: true },
  MAX_RETRIES: { parser: positiveInteger, defaultValue: '6' },
  MAX_RETRY_DELAY: { parser: nonNegativeNumber, defaultValue: '10' },
  MAX_CONCURRENT_INFERENCES: { parser: positiveInteger, defaultValue: '3' },
  WS_POLLING_INTERVAL: { parser: positiveNumber, defaultValue: '3' },
  PYTHONUNBUFFERED: { parser: anyString, defaultValue: '' },
  ROLE: { parser: oneOf(ROLES), defaultValue: 'all' },
  CONFIG_PATH: { parser: nonEmptyString, defaultValue: '.hydra-conf' },
  PROMPTS_PATH: { parser: anyString, defaultValue: '' },
  RESULT_TTL: { parser: positiveInteger, defaultValue: String(7 * 24 * 3600) },
  RESULT_CACHE_TTL: { parser: nonNegativeInteger, defaultValue: String(24 * 3600) },
  JOB_LOCK_SECONDS: { parser: positiveNumber, defaultValue: '30' },
  MAX_UPLOAD_SIZE: { parser: byteSize, defaultValue: '20MB' },
  CORS_ORIGINS: { parser: nonEmptyString, defaultValue: '*' },
  API_KEYS: { parser: commaList, defaultValue: '', isSecret: true },
  LOG_LEVEL: { parser: logLevel(), defaultValue: 'log' },
  LOG_FORMAT: { parser: oneOf(LOG_FORMATS), defaultValue: 'pretty' },
} satisfies Record<string, VariableSpec>;

export type VariableName = keyof typeof VARIABLES;

export interface ConfigSources {
  /** Process environment merged over the `.env` file (the process wins). */
  env: EnvironmentVariables;
  /** Working directory that relative paths are resolved against. */
  cwd: string;
  /** Parsed `config.yaml` (before interpolation), or undefined when the file does not exist. */
  configYaml: unknown;
  /** How the config file is named in error messages. */
  configFileLabel: string;
  /** The gateway's version, shown in the OpenAPI document. */
  version?: string;
  /** Absolute path of `config.yaml` (watched for changes of its `defaults:` list). */
  configFile?: string;
  /** V8's `heap_size_limit` of this process: MAX_UPLOAD_SIZE must fit in it (see checkUploadFitsHeap). */
  heapLimitBytes?: number;
}

/**
 * Heap one request body costs, per byte of MAX_UPLOAD_SIZE, at its peak in an API process: the
 * body decoded into a string, its parsed copy, the job data serialized for Redis, each two bytes
 * per character in V8 once the text holds one character outside Latin-1. Measured on the built
 * gateway (issue 13) with a 176 MiB heap and JSON bodies of ASCII text with one Cyrillic letter per
 * line (the worst case): 18 MB queued, 20 MB ran out of heap, so about 9 to 10 times the body;
 * ASCII-only text dies near 3 times. 12 leaves room for the rest of the process and a second body.
 */
export const HEAP_BYTES_PER_UPLOAD_BYTE = 12;

/**
 * Builds the validated AppConfig from the environment and the parsed `config.yaml`. Keys of
 * `config.yaml` (after `${oc.env:...}` interpolation) win over the plain environment, as in v1;
 * both v1 layouts (nested `api_params:` and flat `api_base:`) are read. Throws ConfigError with
 * one line naming the variable, or the file and field; never echoes a secret's value.
 */
export function parseAppConfig(sources: ConfigSources): AppConfig {
  const { env } = sources;
  const variable = <N extends VariableName>(name: N): ParsedVariable<N> => parseVariable(name, env[name]);
  // Validate every variable first, so a bad one is named even when config.yaml ignores it.
  const parsed = Object.fromEntries(
    (Object.keys(VARIABLES) as VariableName[]).map((name) => [name, variable(name)]),
  ) as { [N in VariableName]: ParsedVariable<N> };

  const yamlTree = interpolateConfigYaml(sources);
  const fromYaml = <T>(paths: string[], parser: ValueParser<T>, fallback: T): T => {
    for (const path of paths) {
      const raw = readPath(yamlTree, path);
      // A mapping where a scalar is read belongs to the other v1 layout (`services_broker: {url}`).
      if (raw === undefined || typeof raw === 'object') continue;
      const result = parser(raw);
      if ('reason' in result) {
        throw new ConfigError(
          `${sources.configFileLabel}: field "${path}" ${result.reason}`,
          'INVALID_CONFIG_FIELD',
        );
      }
      return result.value;
    }
    return fallback;
  };

  const configPath = resolve(sources.cwd, parsed.CONFIG_PATH);
  const promptPathFromYaml = fromYaml(['prompt_path'], nonEmptyString, '');
  const promptsPath = parsed.PROMPTS_PATH
    ? resolve(sources.cwd, parsed.PROMPTS_PATH)
    : promptPathFromYaml
      ? resolvePromptPathFromYaml(promptPathFromYaml, sources.cwd)
      : resolve(sources.cwd, 'prompts');

  if (parsed.ROLE !== 'worker') {
    checkUploadFitsHeap(parsed.MAX_UPLOAD_SIZE, env.MAX_UPLOAD_SIZE, sources.heapLimitBytes);
  }
  if (parsed.HTTP_HEADERS_TIMEOUT > parsed.HTTP_REQUEST_TIMEOUT) {
    throw new ConfigError(
      `Invalid environment variable HTTP_HEADERS_TIMEOUT=${JSON.stringify(env.HTTP_HEADERS_TIMEOUT)}: must not exceed HTTP_REQUEST_TIMEOUT (${parsed.HTTP_REQUEST_TIMEOUT} s)`,
      'INVALID_VARIABLE',
    );
  }
  const corsOrigins = parsed.CORS_ORIGINS === '*' ? '*' : commaListValue(parsed.CORS_ORIGINS);

  return {
    version: sources.version ?? '0.0.0',
    serviceName: parsed.SERVICE_NAME,
    role: parsed.ROLE,
    httpPort: fromYaml(['service_port', 'api_params.service_port'], port, parsed.HTTP_PORT),
    host: parsed.HOST,
    headersTimeoutMs: parsed.HTTP_HEADERS_TIMEOUT * 1000,
    requestTimeoutMs: parsed.HTTP_REQUEST_TIMEOUT * 1000,
    concurrency: fromYaml(['workers', 'api_params.workers'], positiveInteger, parsed.CONCURRENCY),
    splitThreads: parsed.SPLIT_THREADS,
    llm: {
      apiBase: fromYaml(['api_params.api_base', 'api_base'], httpUrl, parsed.OPENAI_API_BASE),
      apiKey: fromYaml(['api_params.api_key', 'api_key'], anyString, parsed.OPENAI_API_TOKEN),
      timeoutSeconds: fromYaml(['api_params.timeout', 'timeout'], positiveNumber, parsed.TIMEOUT),
      maxRetries: fromYaml(['api_params.max_retries'], positiveInteger, parsed.MAX_RETRIES),
      maxRetryDelaySeconds: fromYaml(
        ['api_params.max_retry_delay'],
        nonNegativeNumber,
        parsed.MAX_RETRY_DELAY,
      ),
      maxConcurrentInferences: fromYaml(
        ['semaphore.max_concurrent_inferences'],
        positiveInteger,
        parsed.MAX_CONCURRENT_INFERENCES,
      ),
    },
    redis: {
      url: fromYaml(['services_broker.url', 'services_broker'], redisUrl, parsed.SERVICES_BROKER),
      password: fromYaml(['services_broker.password', 'broker_pass'], optionalSecret, parsed.BROKER_PASS),
    },
    swagger: {
      path: fromYaml(['swagger.url'], optionalUrlPath, parsed.SWAGGER_URL),
      title: fromYaml(['swagger.title'], anyString, parsed.SWAGGER_TITLE),
      description: fromYaml(['swagger.description'], anyString, parsed.SWAGGER_DESCRIPTION),
    },
    wsPollingIntervalSeconds: fromYaml(
      ['api_params.ws_polling_interval'],
      positiveNumber,
      parsed.WS_POLLING_INTERVAL,
    ),
    configPath,
    servicesPath: join(configPath, 'services'),
    promptsPath,
    resultTtlSeconds: parsed.RESULT_TTL,
    resultCacheTtlSeconds: parsed.RESULT_CACHE_TTL,
    jobLockSeconds: parsed.JOB_LOCK_SECONDS,
    maxUploadBytes: parsed.MAX_UPLOAD_SIZE,
    corsOrigins,
    apiKeys: parsed.API_KEYS,
    // v1's `debug: true` turned on debug logs; an explicit LOG_LEVEL still wins.
    logLevel:
      env.LOG_LEVEL === undefined && fromYaml(['debug'], booleanValue, false) ? 'debug' : parsed.LOG_LEVEL,
    logFormat: parsed.LOG_FORMAT,
    interpolationEnv: env,
    configFile: sources.configFile ?? join(configPath, 'config.yaml'),
    configYaml: sources.configYaml ?? {},
    servicesOrder: servicesDefaultsOrder(sources.configYaml),
  };
}

/**
 * Refuses a MAX_UPLOAD_SIZE the heap cannot hold: a body of that size costs about
 * HEAP_BYTES_PER_UPLOAD_BYTE times its size while it is parsed and queued, and a process that runs
 * out of heap dies with every request in flight. Names both values and the way out.
 */
export function checkUploadFitsHeap(
  maxUploadBytes: number,
  rawValue: string | undefined,
  heapLimitBytes: number | undefined,
): void {
  if (heapLimitBytes === undefined) return;
  const neededBytes = maxUploadBytes * HEAP_BYTES_PER_UPLOAD_BYTE;
  if (neededBytes <= heapLimitBytes) return;
  const megabytes = (bytes: number) => `${Math.floor(bytes / 1_048_576)} MiB`;
  throw new ConfigError(
    `Invalid environment variable MAX_UPLOAD_SIZE=${JSON.stringify(rawValue ?? '20MB')}: this process's heap limit is ${megabytes(heapLimitBytes)} (heap_size_limit) and a request body costs about ${HEAP_BYTES_PER_UPLOAD_BYTE} times its size in heap (${megabytes(neededBytes)}); lower MAX_UPLOAD_SIZE to at most ${megabytes(heapLimitBytes / HEAP_BYTES_PER_UPLOAD_BYTE)} or raise the heap (NODE_OPTIONS=--max-old-space-size=<MiB>)`,
    'INVALID_VARIABLE',
  );
}

type ParsedVariable<N extends VariableName> =
  ReturnType<(typeof VARIABLES)[N]['parser']> extends infer R
    ? R extends { value: infer V }
      ? V
      : never
    : never;

function parseVariable<N extends VariableName>(name: N, raw: string | undefined): ParsedVariable<N> {
  const spec: VariableSpec = VARIABLES[name];
  const result = spec.parser(raw ?? spec.defaultValue);
  if ('reason' in result) {
    const shown = spec.isSecret ? '' : `=${JSON.stringify(raw)}`;
    throw new ConfigError(
      `Invalid environment variable ${name}${shown}: ${result.reason}`,
      'INVALID_VARIABLE',
    );
  }
  return result.value as ParsedVariable<N>;
}

function interpolateConfigYaml(sources: ConfigSources): unknown {
  if (sources.configYaml === undefined || sources.configYaml === null) return {};
  if (typeof sources.configYaml !== 'object' || Array.isArray(sources.configYaml)) {
    throw new ConfigError(`${sources.configFileLabel}: must be a YAML mapping`, 'INVALID_CONFIG_FIELD');
  }
  try {
    return interpolateTree(sources.configYaml, sources.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(`${sources.configFileLabel}: ${error.message}`, error.code);
    }
    throw error;
  }
}

/** v1 resolved `prompt_path` from the application folder, which held `.hydra-conf/`. */
function resolvePromptPathFromYaml(promptPath: string, cwd: string): string {
  return isAbsolute(promptPath) ? promptPath : resolve(cwd, promptPath);
}

function readPath(tree: unknown, path: string): unknown {
  let node: unknown = tree;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node === null ? undefined : node;
}

const booleanValue: ValueParser<boolean> = (raw) => {
  const value =
    typeof raw === 'boolean' ? raw : typeof raw === 'string' ? readYaml11Boolean(raw.trim()) : undefined;
  return value === undefined ? { reason: 'must be true or false' } : { value };
};

function commaListValue(text: string): string[] {
  const result = commaList(text);
  return 'value' in result ? result.value : [];
}

function logLevel(): ValueParser<(typeof LOG_LEVELS)[number]> {
  const parseLevel = oneOf(LOG_LEVELS);
  // `info` is what most people type; Nest calls that level `log`.
  return (raw) => parseLevel(typeof raw === 'string' && /^info$/i.test(raw.trim()) ? 'log' : raw);
}
