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
