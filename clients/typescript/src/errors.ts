/** Anything the SDK throws: the gateway refused a request, or could not be reached. */
export class GatewayError extends Error {
  constructor(
    message: string,
    /** The URL of the request that failed. */
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GatewayError';
  }
}

/** The gateway answered with an error status (`{"detail": ...}` bodies, docs/api.md section 4). */
export class GatewayHttpError extends GatewayError {
  constructor(
    url: string,
    /** The HTTP status, e.g. 401 (API key), 404 (unknown service or flavor), 413, 503 (Redis). */
    readonly status: number,
    /** The gateway's `detail`, e.g. `Flavor not found`. */
    readonly detail: string,
  ) {
    super(`${status} ${detail}`, url);
    this.name = 'GatewayHttpError';
  }
}

/** No answer at all: wrong URL, gateway down, network error. */
export class GatewayUnreachableError extends GatewayError {
  constructor(url: string, cause: unknown) {
    super(`Cannot reach the gateway at ${url} (${describe(cause)})`, url, { cause });
    this.name = 'GatewayUnreachableError';
  }
}

/** Node's fetch says only "fetch failed": the reason (ECONNREFUSED, ENOTFOUND...) is its cause. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
  }
  return error.message;
}
