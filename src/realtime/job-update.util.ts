import type { JobStatusBody } from '../jobs/job-status.util';

/** A state message of docs/api.md section 5; `partial` only for `?partial=true` subscribers. */
export type JobMessage = JobStatusBody & { partial?: string };

/** A `WS /ws/results` message: the state plus `task_id`; `complete` also carries progress "100". */
export type FeedMessage = JobMessage & { task_id: string; progress?: string };

/** What one subscriber has been sent about one job. */
export interface SentState {
  lastBody: JobStatusBody | undefined;
  /** Lines of the job's partial summary already sent. */
  partialLineCount: number;
}

const TERMINAL_RANK = 1_000;

/**
 * Orders the states a job passes through: queued < started < processing (by percent) < complete,
 * error, unknown. A subscriber is never sent a state ranked below one it already has: a job put
 * back in the queue by a stopping worker stays "processing" at its percent for its subscribers.
 * Pure.
 */
export function statusRank(body: JobStatusBody): number {
  switch (body.status) {
    case 'queued':
      return 0;
    case 'started':
      return 1;
    case 'processing':
      return 2 + Number(body.progress) / 1_000;
    case 'complete':
    case 'error':
    case 'unknown':
      return TERMINAL_RANK;
  }
}

export function isTerminal(body: JobStatusBody): boolean {
  return statusRank(body) >= TERMINAL_RANK;
}

/**
 * Decides what, if anything, a subscriber is sent when `body` is read or announced for its job,
 * with `newPartialLines` the summary lines it has not been sent yet. A message goes out when the
 * state advances (docs/api.md: one message per change of state or progress), or, for a partial
 * subscriber, when a running job has new lines; each line of `partial` ends with a newline, so
 * a client concatenates them. Returns the message (if any) and the subscriber's new state. Pure.
 */
export function nextMessage(
  sent: SentState,
  body: JobStatusBody,
  newPartialLines: readonly string[],
  withPartial: boolean,
): { message: JobMessage | undefined; sent: SentState } {
  const previous = sent.lastBody;
  if (previous && isTerminal(previous)) return { message: undefined, sent };
  const isAdvance = !previous || statusRank(body) > statusRank(previous);
  const current = previous && !isAdvance ? previous : body;
  const linesToSend = withPartial && current.status === 'processing' ? newPartialLines : [];
  if (!isAdvance && linesToSend.length === 0) return { message: undefined, sent };
  const message: JobMessage =
    withPartial && current.status === 'processing'
      ? { ...current, partial: linesToSend.map((line) => `${line}\n`).join('') }
      : current;
  return {
    message,
    sent: { lastBody: current, partialLineCount: sent.partialLineCount + linesToSend.length },
  };
}

/**
 * The lines of a progress event a subscriber has not been sent yet, given how many it has. The
 * event carries the lines it appended and the list's length after them; a subscriber behind the
 * event's first line has missed lines (events lost while Redis was away) and must read the list.
 * Pure.
 */
export function unsentLines(
  partialLineCount: number,
  event: { summaryLineCount: number; newSummaryLines: readonly string[] },
): { kind: 'lines'; lines: string[] } | { kind: 'gap' } {
  const firstLine = event.summaryLineCount - event.newSummaryLines.length;
  if (firstLine > partialLineCount) return { kind: 'gap' };
  return { kind: 'lines', lines: event.newSummaryLines.slice(Math.max(0, partialLineCount - firstLine)) };
}

/** docs/api.md section 5: a `WS /ws/results` entry. Pure. */
export function feedMessage(jobId: string, message: JobMessage): FeedMessage {
  return message.status === 'complete'
    ? { task_id: jobId, ...message, progress: '100' }
    : { task_id: jobId, ...message };
}
