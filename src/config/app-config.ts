export const ROLES = ['all', 'api', 'worker'] as const;
export type Role = (typeof ROLES)[number];

export const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The whole configuration, parsed and validated once at start-up. Secrets are marked. */
export interface AppConfig {
  /** The gateway's own version, from package.json. */
  version: string;
  serviceName: string;
  role: Role;
  httpPort: number;
  /** Address the HTTP server binds (HOST): `0.0.0.0` by default. */
  host: string;
  /** Time a client has to send a request's headers (slow clients are closed after it). */
  headersTimeoutMs: number;
  /** Time a client has to send a whole request, body included (sized for uploads). */
  requestTimeoutMs: number;
  /** Jobs processed at once by one worker process. */
  concurrency: number;
  /**
   * Worker threads a worker process splits and counts large texts in (SPLIT_THREADS); 0 splits
   * them on the event loop, which then serves no request and renews no job lock meanwhile.
   */
  splitThreads: number;
  llm: {
    apiBase: string;
    /** Secret: never logged or returned. */
    apiKey: string;
    timeoutSeconds: number;
    maxRetries: number;
    maxRetryDelaySeconds: number;
    maxConcurrentInferences: number;
  };
  redis: {
    url: string;
    /** Secret: never logged or returned. Undefined when Redis has no password. */
    password: string | undefined;
  };
  swagger: { path: string; title: string; description: string };
  wsPollingIntervalSeconds: number;
  /** Absolute path of the `.hydra-conf` folder. */
  configPath: string;
  /** Absolute path of `.hydra-conf/services`. */
  servicesPath: string;
  /** Absolute path of the prompts folder. */
  promptsPath: string;
  resultTtlSeconds: number;
  /**
   * How long a summary is kept in the result cache (an identical request is answered from it with
   * no LLM call); 0 turns the cache off.
   */
  resultCacheTtlSeconds: number;
  /**
   * How long a worker's hold on a job lasts without renewal: a worker that dies mid-job has its
   * job picked up again by another worker within about twice this.
   */
  jobLockSeconds: number;
  maxUploadBytes: number;
  /** `*` or an explicit list of allowed origins. */
  corsOrigins: '*' | string[];
  /** Empty: no authentication (v1 behaviour). */
  apiKeys: string[];
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Variables visible to `${oc.env:...}` in manifests (process environment over `.env`). */
  interpolationEnv: Readonly<Record<string, string | undefined>>;
  /** Absolute path of `config.yaml`, watched for changes of its `defaults:` list. */
  configFile: string;
  /** `config.yaml` as parsed, before interpolation: the root of node references in manifests. */
  configYaml: unknown;
  /**
   * The manifest names of `config.yaml`'s `defaults:` list (`- services: [en, fr]`), in order:
   * served first and winning route conflicts. Undefined when the list names no services.
   */
  servicesOrder: readonly string[] | undefined;
}

export const APP_CONFIG = Symbol('APP_CONFIG');
