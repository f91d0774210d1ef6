import type { BatchRange } from '../chunking/batches.util';
import type { Turn } from '../chunking/turns.util';
import type { Checkpoint } from './summarize';

/** Turn counts as last reported to clients. */
export interface ReportedProgress {
  turnsDone: number;
  totalTurns: number;
}

/**
 * What a job reports after a batch, given what it reported last: progress never goes back (a
 * turn split mid-run adds turns, which would lower the percentage), so a lower ratio reports the
 * last progress again, and only when the batch added summary lines worth sending; undefined
 * when there is nothing to report. Pure.
 */
export function progressToReport(
  last: ReportedProgress | undefined,
  turnsDone: number,
  totalTurns: number,
  hasNewLines: boolean,
): ReportedProgress | undefined {
  const ratio = (progress: ReportedProgress) =>
    progress.totalTurns === 0 ? 0 : progress.turnsDone / progress.totalTurns;
  const next = { turnsDone, totalTurns };
  if (!last || ratio(next) >= ratio(last)) return next;
  return hasNewLines ? last : undefined;
}

/**
 * A checkpoint as saved in Redis, read back; undefined when it is not one (a job then starts
 * over). Checkpoints saved before turns kept their prefix as typed (`Bob: `) get the prefix
 * those turns were sent with then (`Bob : `), so a job resumed across an upgrade stays whole.
 * Pure.
 */
export function checkpointFromSaved(saved: unknown): Checkpoint | undefined {
  if (saved === null || typeof saved !== 'object') return undefined;
  const candidate = saved as SavedCheckpoint;
  if (candidate.kind === 'map') {
    return Array.isArray(candidate.answers)
      ? {
          kind: 'map',
          answers: candidate.answers as (string[] | null)[],
          ...(Array.isArray(candidate.batches) ? { batches: candidate.batches as BatchRange[] } : {}),
        }
      : undefined;
  }
  if (candidate.kind !== 'progressive') return undefined;
  if (typeof candidate.nextTurn !== 'number' || !Array.isArray(candidate.summaryLines)) return undefined;
  const turns = candidate.turns?.map((turn): Turn => {
    const speaker = typeof turn.speaker === 'string' ? turn.speaker : '(?)';
    return {
      speaker,
      prefix: typeof turn.prefix === 'string' ? turn.prefix : `${speaker} : `,
      text: typeof turn.text === 'string' ? turn.text : '',
    };
  });
  return {
    kind: 'progressive',
    nextTurn: candidate.nextTurn,
    summaryLines: candidate.summaryLines as string[],
    ...(turns ? { turns } : {}),
  };
}

/** A checkpoint as JSON gives it back: every field to be checked. */
interface SavedCheckpoint {
  kind?: unknown;
  nextTurn?: unknown;
  summaryLines?: unknown;
  answers?: unknown;
  batches?: unknown;
  turns?: { speaker?: unknown; prefix?: unknown; text?: unknown }[];
}
