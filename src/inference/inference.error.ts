export type InferenceErrorCode =
  /** The prompt plus max_tokens exceed the model's context: split the batch and go on. */
  | 'CONTEXT_LENGTH'
  /** A 4xx other than 429 and 404: retrying cannot help (bad key, bad request). */
  | 'REQUEST_REJECTED'
  /** A 404: the server does not serve this model (vLLM: "The model `x` does not exist"). */
  | 'MODEL_NOT_FOUND'
  /** Every attempt failed with a retryable error. */
  | 'RETRIES_EXHAUSTED'
  | 'CANCELLED';

export class InferenceError extends Error {
  constructor(
    message: string,
    readonly code: InferenceErrorCode,
  ) {
    super(message);
    this.name = 'InferenceError';
  }
}

export type AttemptErrorCode =
  /** No chunk within TIMEOUT: before the first one, or since the last one. */
  | 'IDLE_TIMEOUT'
  /** The stream broke after it began: connection lost, or an error event from the server. */
  | 'STREAM_BROKEN'
  /** The stream ended cleanly but without a finish reason: the answer may be cut. */
  | 'STREAM_INCOMPLETE';

/**
 * Why one attempt failed in a way another attempt may not: always retried, and never seen outside
 * the InferenceClient (it becomes the reason of a RETRIES_EXHAUSTED InferenceError).
 */
export class AttemptError extends Error {
  constructor(
    message: string,
    readonly code: AttemptErrorCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'AttemptError';
  }
}
