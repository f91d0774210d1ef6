import createClient, { type Client } from 'openapi-fetch';
import { GatewayError, GatewayHttpError, GatewayUnreachableError } from './errors';
import { followJob, type FollowOptions, type WebSocketClass } from './follow-job';
import type { paths } from './generated/openapi';
import type { CancelResult, FinalState, JobMessage, JobState, QueuedJob, Service } from './types';

export interface GatewayClientOptions {
  /** Where the gateway answers, e.g. `http://localhost:8000` (a path prefix is kept). */
  baseUrl: string;
  /** One of the gateway's API_KEYS, when it has some. */
  apiKey?: string;
  /** The WebSocket class `followJob` uses; default: the global one, else the `ws` package (Node 20). */
  WebSocket?: WebSocketClass;
  /** The fetch to use; default: the global one. */
  fetch?: (request: Request) => Promise<Response>;
}

export interface SubmitRequest {
  /** The service's route as `listServices` gives it, e.g. `summarize/en`. */
  route: string;
  /** One of the service's flavor names. */
  flavor: string;
  /** The text to process; or `file`. */
  text?: string;
  /** The text as a file (UTF-8): a browser `File`, a `Blob`, or Node's `fs.openAsBlob(path)`. */
  file?: Blob;
  /** Overrides the flavor's temperature (0 to 2). */
  temperature?: number;
  /** Overrides the flavor's top_p (greater than 0, at most 1). */
  top_p?: number;
  signal?: AbortSignal;
}

export interface GatewayClient {
  readonly baseUrl: string;
  /** The typed openapi-fetch client of the generic paths, for what the methods below do not cover. */
  readonly http: Client<paths>;
  /** `GET /services`: the loaded services (empty when none is loaded). */
  listServices(): Promise<Service[]>;
  /** `POST /services/{route}/generate` as multipart: the job is stored; follow it by `jobId`. */
  submit(request: SubmitRequest): Promise<QueuedJob>;
  /** `GET /results/{id}`: the job's state, whatever it is (`unknown` for a job that does not exist). */
  getResult(jobId: string): Promise<JobState>;
  /** `DELETE /results/{id}`: cancels a queued or running job, deletes a finished one. */
  cancel(jobId: string): Promise<CancelResult>;
  /**
   * `WS /ws/results/{id}`: each state of the job as it changes, the current one first, ending
   * with `complete`, `error` or `unknown`; reconnects after a dropped connection.
   */
  followJob(jobId: string, options?: FollowOptions): AsyncGenerator<JobMessage, void, undefined>;
  /** Follows the job to its end and returns its final state; `onState` sees every state on the way. */
  waitForResult(
    jobId: string,
    options?: FollowOptions & { onState?: (state: JobMessage) => void },
  ): Promise<FinalState>;
}

/** Whether a job in this state changes no more. */
export function isFinal(state: JobMessage): state is FinalState {
  return state.status === 'complete' || state.status === 'error' || state.status === 'unknown';
}

/**
 * A client of one gateway. Every method throws `GatewayHttpError` when the gateway refuses the
 * request (wrong key, unknown service or flavor, Redis down...) and `GatewayUnreachableError`
 * when it cannot be reached.
 */
export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const http = createClient<paths>({
    baseUrl,
    headers: options.apiKey === undefined ? {} : { Authorization: `Bearer ${options.apiKey}` },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

  async function send<T extends { response: Response }>(path: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (error instanceof Error && error.name === 'AbortError') throw error;
      throw new GatewayUnreachableError(`${baseUrl}${path}`, error);
    }
  }

  async function getResult(jobId: string): Promise<JobState> {
    const { data, error, response } = await send(`/results/${jobId}`, () =>
      http.GET('/results/{id}', { params: { path: { id: jobId } } }),
    );
    if (data) return data;
    // 404 and 500 are states too (unknown, error), as v1 answered them.
    if (isStateBody(error)) {
      return error.status === 'unknown' ? { status: 'unknown', message: error.message } : error;
    }
    throw httpError(response, error);
  }

  const client: GatewayClient = {
    baseUrl,
    http,

    async listServices() {
      const { data, error, response } = await send('/services', () => http.GET('/services'));
      if (data) return data;
      if (response.status === 404) return []; // {"detail":"No services available"}
      throw httpError(response, error);
    },

    async submit(request) {
      const file = request.file ?? (request.text === undefined ? undefined : new Blob([request.text]));
      if (file === undefined) throw new TypeError('submit needs the text to process: `text` or `file`');
      const { data, error, response } = await send(`/services/${request.route}/generate`, () =>
        http.POST('/services/{route}/generate', {
          params: { path: { route: request.route } },
          body: { file, flavor: request.flavor, temperature: request.temperature, top_p: request.top_p },
          bodySerializer: multipart,
          // Slashes of the route are sent as they are (some proxies refuse an encoded slash).
          pathSerializer: (pathname, parameters) =>
            pathname.replace(
              '{route}',
              String(parameters.route).split('/').map(encodeURIComponent).join('/'),
            ),
          ...(request.signal ? { signal: request.signal } : {}),
        }),
      );
      if (data) return data;
      throw httpError(response, error);
    },

    getResult,

    async cancel(jobId) {
      const { data, error, response } = await send(`/results/${jobId}`, () =>
        http.DELETE('/results/{id}', { params: { path: { id: jobId } } }),
      );
      if (data) return data;
      throw httpError(response, error);
    },

    followJob(jobId, followOptions) {
      return followJob(
        {
          baseUrl,
          apiKey: options.apiKey,
          webSocket: () => webSocketClass(options.WebSocket),
          stateOverHttp: async (id) => {
            try {
              return await getResult(id);
            } catch (error) {
              if (error instanceof GatewayUnreachableError) return undefined;
              if (error instanceof GatewayHttpError && error.status >= 500) return undefined;
              throw error;
            }
          },
        },
        jobId,
        followOptions,
      );
    },

    async waitForResult(jobId, waitOptions = {}) {
      for await (const state of client.followJob(jobId, waitOptions)) {
        waitOptions.onState?.(state);
        if (isFinal(state)) return state;
      }
      throw new GatewayError(
        `Stopped following job ${jobId} before it ended`,
        `${baseUrl}/ws/results/${jobId}`,
      );
    },
  };
  return client;
}

function multipart(body: Record<string, unknown>): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(body)) {
    if (value === undefined) continue;
    if (value instanceof Blob) form.append(name, value, 'text.txt');
    else if (typeof value === 'string' || typeof value === 'number') form.append(name, String(value));
    else throw new TypeError(`${name} cannot be sent as a form field`);
  }
  return form;
}

function isStateBody(body: unknown): body is Extract<JobState, { status: 'unknown' | 'error' }> {
  if (typeof body !== 'object' || body === null || !('status' in body)) return false;
  return body.status === 'unknown' || body.status === 'error';
}

function httpError(response: Response, body: unknown): GatewayHttpError {
  const detail =
    typeof body === 'object' && body !== null && 'detail' in body && typeof body.detail === 'string'
      ? body.detail
      : response.statusText || 'error';
  return new GatewayHttpError(response.url, response.status, detail);
}

/** The given class, else the platform's WebSocket, else the `ws` package (Node 20 has no global one). */
async function webSocketClass(given: WebSocketClass | undefined): Promise<WebSocketClass> {
  if (given) return given;
  const global = (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
  if (global) return global;
  // A name in a variable: bundlers for the browser leave it alone (browsers have a global WebSocket).
  const packageName = 'ws';
  try {
    const loaded = (await import(/* @vite-ignore */ packageName)) as {
      default?: unknown;
      WebSocket?: unknown;
    };
    const candidate = loaded.WebSocket ?? loaded.default;
    if (typeof candidate === 'function') return candidate as WebSocketClass;
  } catch {
    // reported below
  }
  throw new GatewayError(
    'No WebSocket implementation: install the `ws` package, or pass `WebSocket` to createGatewayClient',
    '',
  );
}
