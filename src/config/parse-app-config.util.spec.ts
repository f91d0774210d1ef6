import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { ConfigError } from './config.error';
import { parseAppConfig } from './parse-app-config.util';
import { parseHydraYaml } from './yaml.util';

const fixtures = join(__dirname, '../../test/fixtures/config');
const v1ConfigYaml = load(readFileSync(join(fixtures, 'v1-config.yaml'), 'utf8'));
const v1FlatConfigYaml = load(readFileSync(join(fixtures, 'v1-flat-config.yaml'), 'utf8'));

function parse(env: Record<string, string>, configYaml: unknown = v1ConfigYaml) {
  return parseAppConfig({ env, cwd: '/srv', configYaml, configFileLabel: '.hydra-conf/config.yaml' });
}

describe('parseAppConfig', () => {
  it("loads v1's config.yaml unchanged, with docs/api.md's defaults", () => {
    const config = parse({});
    expect(config).toMatchObject({
      serviceName: 'LLM_Gateway',
      role: 'all',
      httpPort: 8000,
      concurrency: 2,
      llm: {
        apiBase: 'http://localhost:9000/v1',
        apiKey: 'EMPTY',
        timeoutSeconds: 60,
        maxRetries: 6,
        maxRetryDelaySeconds: 10,
        maxConcurrentInferences: 3,
      },
      redis: { url: 'redis://localhost:6379', password: undefined },
      swagger: { path: '/docs' },
      wsPollingIntervalSeconds: 3,
      configPath: '/srv/.hydra-conf',
      servicesPath: '/srv/.hydra-conf/services',
      promptsPath: '/srv/prompts',
      resultTtlSeconds: 604800,
      resultCacheTtlSeconds: 86400,
      maxUploadBytes: 20_000_000,
      corsOrigins: '*',
      apiKeys: [],
      logLevel: 'log',
      logFormat: 'pretty',
    });
  });

  it('reads the variables through the interpolations of config.yaml', () => {
    const config = parse({
      OPENAI_API_BASE: 'http://vllm:8000/v1',
      OPENAI_API_TOKEN: 'sk-secret',
      MAX_RETRIES: '2',
      TIMEOUT: '5.5',
      MAX_CONCURRENT_INFERENCES: '8',
      SERVICES_BROKER: 'rediss://cache:6380/2',
      BROKER_PASS: 'hunter2',
      SWAGGER_URL: '/api-docs',
    });
    expect(config.llm).toMatchObject({
      apiBase: 'http://vllm:8000/v1',
      apiKey: 'sk-secret',
      maxRetries: 2,
      timeoutSeconds: 5.5,
      maxConcurrentInferences: 8,
    });
    expect(config.redis).toEqual({ url: 'rediss://cache:6380/2', password: 'hunter2' });
    expect(config.swagger.path).toBe('/api-docs');
  });

  it.each([
    ['debug: true', {}, 'debug'],
    ['debug: yes', {}, 'debug'],
    ['debug: false', {}, 'log'],
    ['debug: ${oc.env:DEBUG,false}', { DEBUG: 'true' }, 'debug'],
    ['debug: true', { LOG_LEVEL: 'warn' }, 'warn'],
  ])("honours v1's %s (env %j) as log level %s", (line, env, expected) => {
    expect(parse(env, parseHydraYaml(line)).logLevel).toBe(expected);
  });

  it('turns the docs off with an empty SWAGGER_URL, through config.yaml too', () => {
    expect(parse({ SWAGGER_URL: '' }).swagger.path).toBe('');
    expect(parse({ SWAGGER_URL: '' }, {}).swagger.path).toBe('');
  });

  it("resolves node references of v1's config.yaml and reads its defaults list", () => {
    const config = parse(
      { SWAGGER_TITLE: 'Gateway' },
      parseHydraYaml(
        [
          'defaults:',
          '  - _self_',
          '  - services: [en, fr]',
          'swagger:',
          '  title: ${oc.env:SWAGGER_TITLE,STT API}',
          '  description: ${oc.select:missing.key,About} ${swagger.title}',
          '  url: ${oc.env:SWAGGER_URL,/docs}',
        ].join('\n'),
      ),
    );
    expect(config.swagger).toEqual({ path: '/docs', title: 'Gateway', description: 'About Gateway' });
    expect(config.servicesOrder).toEqual(['en', 'fr']);
  });

  it('reads the flat layout of older v1 config files', () => {
    const config = parse({ HTTP_PORT: '9100', BROKER_PASS: 'pw' }, v1FlatConfigYaml);
    expect(config.httpPort).toBe(9100);
    expect(config.concurrency).toBe(1);
    expect(config.redis).toEqual({ url: 'redis://localhost:6379', password: 'pw' });
    expect(config.promptsPath).toBe('/srv/services');
  });

  it('uses the variables alone when there is no config.yaml', () => {
    const config = parse({ HTTP_PORT: '0', SERVICES_BROKER: 'redis://127.0.0.1:7000' }, undefined);
    expect(config.httpPort).toBe(0);
    expect(config.redis.url).toBe('redis://127.0.0.1:7000');
  });

  it.each([
    [{ PROMPTS_PATH: 'custom-prompts' }, '/srv/custom-prompts'],
    [{ PROMPTS_PATH: '/abs/prompts' }, '/abs/prompts'],
    [{}, '/srv/prompts'],
  ])('PROMPTS_PATH %p wins over prompt_path', (env, expected) => {
    expect(parse(env).promptsPath).toBe(expected);
  });

  it.each([
    ['MAX_UPLOAD_SIZE', '512kb', 'maxUploadBytes', 512_000],
    ['MAX_UPLOAD_SIZE', '1048576', 'maxUploadBytes', 1_048_576],
    [
      'CORS_ORIGINS',
      'https://a.example, https://b.example',
      'corsOrigins',
      ['https://a.example', 'https://b.example'],
    ],
    ['API_KEYS', 'k1,k2', 'apiKeys', ['k1', 'k2']],
    ['LOG_LEVEL', 'INFO', 'logLevel', 'log'],
    ['LOG_FORMAT', 'json', 'logFormat', 'json'],
    ['ROLE', 'worker', 'role', 'worker'],
    ['RESULT_TTL', '60', 'resultTtlSeconds', 60],
    ['RESULT_CACHE_TTL', '600', 'resultCacheTtlSeconds', 600],
    ['RESULT_CACHE_TTL', '0', 'resultCacheTtlSeconds', 0],
    ['HOST', '127.0.0.1', 'host', '127.0.0.1'],
    ['HOST', '::', 'host', '::'],
    ['HOST', 'localhost', 'host', 'localhost'],
    ['HTTP_HEADERS_TIMEOUT', '2.5', 'headersTimeoutMs', 2_500],
    ['HTTP_REQUEST_TIMEOUT', '600', 'requestTimeoutMs', 600_000],
    ['BROKER_PASS', '', 'redis', { url: 'redis://localhost:6379', password: undefined }],
  ])('%s=%s sets %s', (name, value, key, expected) => {
    expect(parse({ [name]: value })).toMatchObject({ [key]: expected });
  });

  it.each([
    ['HTTP_PORT', 'abc', /^Invalid environment variable HTTP_PORT="abc": must be a port number/],
    ['HTTP_PORT', '70000', /HTTP_PORT="70000"/],
    ['CONCURRENCY', '0', /^Invalid environment variable CONCURRENCY="0": must be a positive integer$/],
    ['CONCURRENCY', '1.5', /CONCURRENCY/],
    ['TIMEOUT', 'soon', /TIMEOUT="soon": must be a positive number/],
    ['MAX_RETRIES', '-1', /MAX_RETRIES/],
    ['MAX_RETRY_DELAY', 'x', /MAX_RETRY_DELAY/],
    ['MAX_CONCURRENT_INFERENCES', '0', /MAX_CONCURRENT_INFERENCES/],
    ['WS_POLLING_INTERVAL', '0', /WS_POLLING_INTERVAL/],
    ['ROLE', 'scheduler', /ROLE="scheduler": must be one of all, api, worker/],
    ['OPENAI_API_BASE', 'localhost:9000', /OPENAI_API_BASE/],
    ['SWAGGER_URL', 'docs', /SWAGGER_URL/],
    ['RESULT_TTL', '0', /RESULT_TTL/],
    [
      'RESULT_CACHE_TTL',
      '-1',
      /^Invalid environment variable RESULT_CACHE_TTL="-1": must be a non-negative integer$/,
    ],
    ['RESULT_CACHE_TTL', '1.5', /RESULT_CACHE_TTL/],
    ['MAX_UPLOAD_SIZE', 'big', /MAX_UPLOAD_SIZE/],
    ['LOG_LEVEL', 'chatty', /LOG_LEVEL/],
    ['LOG_FORMAT', 'xml', /LOG_FORMAT/],
    [
      'SERVICES_BROKER',
      'http://:s3cret@localhost:6379',
      /^Invalid environment variable SERVICES_BROKER: must be a redis/,
    ],
  ])('refuses %s=%s, naming it', (name, value, message) => {
    expect(() => parse({ [name]: value })).toThrow(message);
    expect(() => parse({ [name]: value })).toThrow(ConfigError);
  });

  it('never echoes a secret variable in its error', () => {
    let message = '';
    try {
      parse({ SERVICES_BROKER: 'mysql://user:s3cret@db' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('SERVICES_BROKER');
    expect(message).not.toContain('s3cret');
  });

  it('names the file and field of a bad config.yaml value', () => {
    expect(() => parse({}, { api_params: { timeout: 'never' } })).toThrow(
      '.hydra-conf/config.yaml: field "api_params.timeout" must be a positive number',
    );
    expect(() => parse({}, { api_params: { api_key: '${oc.env:UNSET_TOKEN}' } })).toThrow(
      '.hydra-conf/config.yaml: field "api_params.api_key": environment variable UNSET_TOKEN is not set',
    );
  });

  it('defaults: HOST 0.0.0.0, headers within 10 s, a whole request within 300 s', () => {
    expect(parse({})).toMatchObject({ host: '0.0.0.0', headersTimeoutMs: 10_000, requestTimeoutMs: 300_000 });
  });

  it.each([
    [{}, 1],
    [{ SPLIT_THREADS: '0' }, 0],
    [{ SPLIT_THREADS: '2' }, 2],
  ])('split threads: %p gives %i', (env, splitThreads) => {
    expect(parse(env).splitThreads).toBe(splitThreads);
  });

  it.each([
    [{ SPLIT_THREADS: '-1' }, /SPLIT_THREADS="-1": must be a non-negative integer/],
    [{ SPLIT_THREADS: '1.5' }, /SPLIT_THREADS/],
    [{ HOST: '' }, /^Invalid environment variable HOST="": must be an IP address or a host name/],
    [{ HOST: 'a b' }, /HOST/],
    [{ HTTP_HEADERS_TIMEOUT: '0' }, /HTTP_HEADERS_TIMEOUT/],
    [
      { HTTP_HEADERS_TIMEOUT: '20', HTTP_REQUEST_TIMEOUT: '10' },
      /HTTP_HEADERS_TIMEOUT="20": must not exceed HTTP_REQUEST_TIMEOUT \(10 s\)/,
    ],
  ])('refuses %p', (env, message) => {
    expect(() => parse(env)).toThrow(message);
  });

  const heap = (heapLimitBytes: number, env: Record<string, string>) =>
    parseAppConfig({
      env,
      cwd: '/srv',
      configYaml: undefined,
      configFileLabel: 'config.yaml',
      heapLimitBytes,
    });

  it.each([
    [128 * 1_048_576, { MAX_UPLOAD_SIZE: '10MiB' }, 10 * 1_048_576],
    [512 * 1_048_576, {}, 20_000_000],
    // A worker receives no request body: the limit is not its concern.
    [128 * 1_048_576, { MAX_UPLOAD_SIZE: '100MB', ROLE: 'worker' }, 100_000_000],
  ])('a heap of %d bytes holds %p', (heapLimitBytes, env, maxUploadBytes) => {
    expect(heap(heapLimitBytes, env).maxUploadBytes).toBe(maxUploadBytes);
  });

  it.each([
    [
      128 * 1_048_576,
      { MAX_UPLOAD_SIZE: '100MB' },
      /MAX_UPLOAD_SIZE="100MB": this process's heap limit is 128 MiB \(heap_size_limit\).*at most 10 MiB.*--max-old-space-size/,
    ],
    [128 * 1_048_576, { MAX_UPLOAD_SIZE: '11MiB', ROLE: 'api' }, /MAX_UPLOAD_SIZE="11MiB".*128 MiB/],
    [200 * 1_048_576, {}, /MAX_UPLOAD_SIZE="20MB".*200 MiB/],
  ])('a heap of %d bytes refuses %p, naming both', (heapLimitBytes, env, message) => {
    expect(() => heap(heapLimitBytes, env)).toThrow(message);
  });
});
