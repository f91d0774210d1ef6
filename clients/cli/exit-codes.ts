/** What `llm-gateway` exits with, for scripts (documented in its `--help`). */
export const ExitCode = {
  /** Done: the command did what was asked (a followed job completed). */
  ok: 0,
  /** The job failed or was cancelled (state `error`). */
  jobFailed: 1,
  /** Bad arguments, unknown service or flavor, unreadable input file. */
  usage: 2,
  /** The gateway could not be reached at the URL. */
  unreachable: 3,
  /** The gateway refused the request (wrong API key, too large, Redis unavailable...). */
  refused: 4,
  /** No such job (never existed, or expired). */
  unknownJob: 5,
  /** Interrupted (Ctrl-C) while following a job: the job itself keeps running. */
  interrupted: 130,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0    done (a followed job completed)
  1    the job failed or was cancelled
  2    usage error: bad arguments, unknown service or flavor, unreadable file
  3    the gateway could not be reached
  4    the gateway refused the request (API key, size, Redis unavailable...)
  5    no such job (unknown id, or expired)
  130  interrupted while following (the job keeps running)`;

/** An error the CLI reports in one line and exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: (typeof ExitCode)[keyof typeof ExitCode],
  ) {
    super(message);
    this.name = 'CliError';
  }
}
