import { GatewayError } from './errors';
import type { JobMessage } from './types';

/**
 * A WebSocket class: a browser's or Node 22's global `WebSocket`, or the `ws` package's (Node 20).
 * Only the standard `on...` handlers, `close()` and text frames are used.
 */
export type WebSocketClass = new (url: string) => unknown;

/** What the SDK uses of a WebSocket; the browser's, Node's and `ws`'s sockets all have it. */
interface SocketHandle {
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}

export interface FollowOptions {
  /** Ask for `partial` on `processing` states: the summary lines produced since the previous state. */
  partial?: boolean;
  /** Stops following (the iterator ends, the socket is closed). */
  signal?: AbortSignal;
  /**
   * Connections in a row that may fail before any message arrives (gateway down, network lost)
   * before the iterator throws; default 10 (about half a minute of backoff). A connection that
   * delivered a state resets the count.
   */
  maxFailedConnections?: number;
}

/** What `followJob` needs from the client: where, how, and an HTTP check when a socket fails. */
export interface FollowContext {
  baseUrl: string;
  apiKey: string | undefined;
  webSocket: () => Promise<WebSocketClass>;
  /**
   * The job's state over HTTP, asked when a socket could not be opened; undefined when the gateway
   * cannot be reached right now (worth retrying). Throws when the gateway refuses the request (a
   * wrong API key): retrying would not help.
   */
  stateOverHttp: (jobId: string) => Promise<JobMessage | undefined>;
}

const FINAL_STATUSES = new Set(['complete', 'error', 'unknown']);
const FIRST_RETRY_DELAY_MS = 250;
const MAX_RETRY_DELAY_MS = 5_000;

/**
 * Follows a job over `WS /ws/results/{id}` and yields each state, the last one `complete`,
 * `error` or `unknown`. A connection dropped before the end (network, a gateway restarting, close
 * `1001`) is opened again, with backoff; the first state after a reconnection is the current one.
 * With `partial`, each `processing` state carries only lines not yielded before, even across
 * reconnections (the gateway sends a new connection every line so far).
 */
export async function* followJob(
  context: FollowContext,
  jobId: string,
  options: FollowOptions = {},
): AsyncGenerator<JobMessage, void, undefined> {
  const url = socketUrl(context, jobId, options.partial ?? false);
  const maxFailures = options.maxFailedConnections ?? 10;
  const WebSocketImplementation = await context.webSocket();
  let linesYielded = 0;
  let failures = 0;
  while (!options.signal?.aborted) {
    const connection = new Connection(WebSocketImplementation, url, options.signal);
    let linesOfConnection = 0;
    let hasMessage = false;
    try {
      for (let frame = await connection.next(); frame !== undefined; frame = await connection.next()) {
        let state = JSON.parse(frame) as JobMessage;
        hasMessage = true;
        failures = 0;
        if (state.status === 'processing' && typeof state.partial === 'string') {
          const lines = splitKeepingNewlines(state.partial);
          const fresh = lines.slice(Math.max(0, linesYielded - linesOfConnection));
          linesOfConnection += lines.length;
          linesYielded = Math.max(linesYielded, linesOfConnection);
          state = { ...state, partial: fresh.join('') };
        }
        yield state;
        if (FINAL_STATUSES.has(state.status)) return;
      }
    } finally {
      connection.close();
    }
    if (options.signal?.aborted) return;
    if (!hasMessage) {
      failures += 1;
      const state = await context.stateOverHttp(jobId);
      if (state && FINAL_STATUSES.has(state.status)) {
        yield state;
        return;
      }
      if (failures >= maxFailures) {
        throw new GatewayError(
          `Lost the connection to ${url.replace(/api_key=[^&]*/, 'api_key=…')} and could not open it again (${failures} attempts)`,
          url,
        );
      }
    }
    await delay(
      hasMessage ? FIRST_RETRY_DELAY_MS : Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** failures),
      options.signal,
    );
  }
}

function socketUrl(context: FollowContext, jobId: string, withPartial: boolean): string {
  const url = new URL(`${context.baseUrl.replace(/\/+$/, '')}/ws/results/${encodeURIComponent(jobId)}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (withPartial) url.searchParams.set('partial', 'true');
  // Browsers cannot set headers on a WebSocket: the gateway takes the key from the query too.
  if (context.apiKey !== undefined) url.searchParams.set('api_key', context.apiKey);
  return url.toString();
}

/** `"a\nb\n"` → `["a\n", "b\n"]`: each partial line ends with a newline. */
function splitKeepingNewlines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function delay(milliseconds: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, milliseconds);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** One socket as a pull-based stream of text frames; `undefined` once it is closed. */
class Connection {
  private readonly socket: SocketHandle;
  private readonly frames: string[] = [];
  private isClosed = false;
  private wake: (() => void) | undefined;
  private readonly onAbort = () => this.close();

  constructor(
    WebSocketImplementation: WebSocketClass,
    url: string,
    private readonly signal: AbortSignal | undefined,
  ) {
    // The one place the SDK meets a WebSocket implementation: see SocketHandle.
    this.socket = new WebSocketImplementation(url) as SocketHandle;
    this.socket.onmessage = (event) => {
      if (typeof event.data === 'string') this.push(event.data);
    };
    this.socket.onclose = () => this.end();
    this.socket.onerror = () => undefined; // always followed by a close
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  async next(): Promise<string | undefined> {
    while (this.frames.length === 0 && !this.isClosed) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return this.frames.shift();
  }

  close(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    if (!this.isClosed) {
      try {
        this.socket.close(1000);
      } catch {
        // still connecting in some implementations: the close handler ends it anyway
      }
    }
    this.end();
  }

  private push(frame: string): void {
    this.frames.push(frame);
    this.wake?.();
  }

  private end(): void {
    this.isClosed = true;
    this.wake?.();
  }
}
