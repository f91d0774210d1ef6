import type { IncomingHttpHeaders } from 'node:http';
import { type ErrorRequestHandler, json, type RequestHandler } from 'express';

/** The type of the error a JSON body that is not UTF-8 gives (body-parser keeps a verify error's type). */
const NOT_UTF8 = 'encoding.not-utf8';
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The media type of nearly every JSON request: `application/json`, alone or with a UTF-8 charset.
 * Anything else (another charset, `+json` types, odd parameters) is body-parser's to judge.
 */
const PLAIN_JSON = /^application\/json[\t ]*(?:;[\t ]*charset="?utf-8"?[\t ]*)?$/i;
/** The first character that is not whitespace JSON allows before a value (RFC 8259). */
const NOT_JSON_WHITESPACE = /[^ \t\n\r]/;

/**
 * Reads JSON request bodies as body-parser's `json()` does (the size limit, strict JSON: an object
 * or an array, `{}` for an empty body, UTF-8 only; its error statuses, answered by
 * `jsonBodyErrorsAsDetail`). The usual request (a Content-Length within the limit, no
 * Content-Encoding, `application/json` with no charset or UTF-8) is read here directly, its
 * bytes decoded once: body-parser's general path (media-type parsing, raw-body's stream
 * plumbing, an iconv decoder after the UTF-8 check) cost about a tenth of a submission's CPU
 * time. Every other request (chunked, compressed, another charset, over the limit, not JSON) goes
 * to body-parser.
 */
export function readJsonBodies(limitBytes: number): RequestHandler {
  const general = json({ limit: limitBytes, verify: refuseInvalidUtf8 });
  return (request, response, next) => {
    const length = plainJsonLength(request.headers);
    if (length === undefined || length > limitBytes) {
      general(request, response, next);
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    request.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    let isRead = false;
    // `on`, not `once`: each fires at most once, and `once` wraps the listener on every request.
    request.on('error', () => {
      if (!isRead) next(bodyError(400, 'request.aborted', 'request aborted'));
    });
    request.on('end', () => {
      isRead = true;
      if (received !== length) {
        next(bodyError(400, 'request.size.invalid', 'request size did not match content length'));
        return;
      }
      const [only] = chunks;
      const parsed = parseStrictJson(chunks.length === 1 && only ? only : Buffer.concat(chunks, received));
      if (parsed instanceof Error) {
        next(parsed);
        return;
      }
      request.body = parsed;
      next();
    });
  };
}

/** The declared length of a body that the direct path reads; undefined for any other request. */
function plainJsonLength(headers: IncomingHttpHeaders): number | undefined {
  const contentType = headers['content-type'];
  const contentLength = headers['content-length'];
  if (contentType === undefined || contentLength === undefined) return undefined;
  if (headers['transfer-encoding'] !== undefined) return undefined;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return undefined;
  if (!PLAIN_JSON.test(contentType) || !/^\d{1,15}$/.test(contentLength)) return undefined;
  return Number(contentLength);
}

/** A body's value, or the error body-parser would give for it (a JSON syntax error is a 400). */
function parseStrictJson(body: Buffer): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(body); // a leading BOM is dropped, as body-parser's decoder drops it
  } catch {
    return notUtf8Error();
  }
  if (text.length === 0) return {}; // body-parser's special case: a common client-side mistake
  const first = text[0] === '{' || text[0] === '[' ? text[0] : text[text.search(NOT_JSON_WHITESPACE)];
  if (first !== '{' && first !== '[') {
    return bodyError(400, 'entity.parse.failed', 'JSON body must be an object or an array');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    return bodyError(400, 'entity.parse.failed', (error as Error).message);
  }
}

function bodyError(status: number, type: string, message: string): Error {
  return Object.assign(new Error(message), { status, type, expose: true });
}

function notUtf8Error(): Error {
  return bodyError(400, NOT_UTF8, 'JSON body must be UTF-8 encoded text: it holds bytes that are not UTF-8');
}

/**
 * body-parser's `verify` hook: a JSON body declared (or defaulting to) UTF-8 must be UTF-8, checked
 * on the raw bytes. Other charsets body-parser decodes itself; what a lenient decoding leaves
 * (U+FFFD) the generate request's own check refuses.
 */
function refuseInvalidUtf8(
  _request: unknown,
  _response: unknown,
  body: Buffer,
  encoding: string | null,
): void {
  if (encoding !== null && encoding.toLowerCase() !== 'utf-8' && encoding.toLowerCase() !== 'utf8') return;
  try {
    strictUtf8.decode(body);
  } catch {
    throw notUtf8Error();
  }
}

/** Body errors happen before Nest's filters: answered in the same `{detail}` shape. */
export const jsonBodyErrorsAsDetail: ErrorRequestHandler = (error: unknown, _request, response, next) => {
  const status = typeof error === 'object' && error !== null && 'status' in error ? error.status : undefined;
  if (typeof status !== 'number') {
    next(error);
    return;
  }
  const type = typeof error === 'object' && error !== null && 'type' in error ? error.type : undefined;
  if (type === NOT_UTF8) {
    response.status(400).json({ detail: (error as Error).message });
    return;
  }
  const detail =
    status === 413
      ? 'Request body larger than MAX_UPLOAD_SIZE'
      : status === 415
        ? 'Unsupported charset or content encoding of the request body'
        : status === 400
          ? 'Malformed JSON body'
          : 'Request body could not be read';
  response.status(status).json({ detail });
};
