import type { components } from './generated/openapi';

type Schemas = components['schemas'];

/** A loaded service: its manifest as `GET /services` shows it, `route` always present. */
export type Service = Schemas['Service'];
/** A variant of a service; its `name` is what `submit` takes as `flavor`. */
export type Flavor = Schemas['Flavor'];
/** The answer to a generate request: the job is stored, follow it by `jobId`. */
export type QueuedJob = Schemas['QueuedJob'];
/** What `cancel` did: `cancelled` (it was queued or running) or `deleted` (it had finished). */
export type CancelResult = Schemas['CancelResult'];

export type QueuedState = Schemas['QueuedState'];
export type StartedState = Schemas['StartedState'];
export type ProcessingState = Schemas['ProcessingState'];
export type CompleteState = Schemas['CompleteState'];
export type ErrorState = Schemas['ErrorState'];
export type UnknownState = Schemas['UnknownState'];
/** Any state of a job, told apart by `status` (the bodies of `GET /results/{id}`). */
export type JobState = Schemas['JobState'];

/**
 * A state as `followJob` yields it: with `partial: true`, a `processing` state also carries the
 * summary lines produced since the previous one, each ending with a newline (possibly none).
 */
export type JobMessage =
  | QueuedState
  | StartedState
  | (ProcessingState & { partial?: string })
  | CompleteState
  | ErrorState
  | UnknownState;

/** The states after which a job changes no more. */
export type FinalState = CompleteState | ErrorState | UnknownState;
