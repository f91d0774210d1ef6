export type JobsErrorCode = 'QUEUE_UNAVAILABLE' | 'JOB_NOT_FOUND';

export class JobsError extends Error {
  constructor(
    message: string,
    readonly code: JobsErrorCode,
  ) {
    super(message);
    this.name = 'JobsError';
  }
}

/** Whether `error` means Redis could not be reached (the caller may try again later). */
export function isQueueUnavailable(error: unknown): boolean {
  return error instanceof JobsError && error.code === 'QUEUE_UNAVAILABLE';
}
