import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AppConfig } from './config/app-config';

/** How often Node looks for connections past their header or request deadline. */
const DEADLINE_CHECK_INTERVAL_MS = 1_000;

/**
 * Deadlines of the HTTP server: HTTP_HEADERS_TIMEOUT closes a client that sends its headers slowly
 * (slow-loris), HTTP_REQUEST_TIMEOUT bounds a whole upload; an upgraded WebSocket is no longer a
 * request and is not cut. Node's own refusals (bad headers, an unknown method, headers too large,
 * a deadline missed) answer with the `{"detail": ...}` body of every other error. Call before
 * `listen`: Node starts its deadline checks when the server starts listening.
 */
export function tuneHttpServer(
  server: Server,
  config: Pick<AppConfig, 'headersTimeoutMs' | 'requestTimeoutMs'>,
): void {
  server.headersTimeout = config.headersTimeoutMs;
  server.requestTimeout = config.requestTimeoutMs;
  // Read by Node when the server starts listening (default 30 s, too coarse for the deadlines).
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    DEADLINE_CHECK_INTERVAL_MS;
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { status, reason, detail } = clientErrorAnswer(error.code);
    const body = JSON.stringify({ detail });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

interface ClientErrorAnswer {
  status: number;
  reason: string;
  detail: string;
}

const CLIENT_ERROR_ANSWERS: Record<string, ClientErrorAnswer> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    detail: 'Request headers too large',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: 'Request Timeout',
    detail: 'Request not received in time',
  },
  HPE_INVALID_METHOD: { status: 400, reason: 'Bad Request', detail: 'Malformed request: unknown method' },
};

/** The answer to a request Node's parser refused, by its error code. */
export function clientErrorAnswer(code: string | undefined): ClientErrorAnswer {
  return (
    (code === undefined ? undefined : CLIENT_ERROR_ANSWERS[code]) ?? {
      status: 400,
      reason: 'Bad Request',
      detail: 'Malformed request',
    }
  );
}
