export type InferenceErrorCode =
  /** The prompt plus max_tokens exceed the model's context: split the batch and go on. */
  | 'CONTEXT_LENGTH'
  /** A 4xx other than 429: retrying cannot help (bad model name, bad key, bad request). */
  | 'REQUEST_REJECTED'
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
