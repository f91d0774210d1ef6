import type { OutputType } from '../services/manifest.schema';

export const SUMMARIZATION_QUEUE = 'summarization';

/** Set by `DELETE /results/:id` (any API process); the worker checks it at every batch boundary. */
export const cancelKey = (jobId: string) => `llm-gateway:cancelled:${jobId}`;

/** Flavor parameters after per-request overrides: everything a worker needs, frozen at enqueue. */
export interface FlavorParameters {
  name: string;
  modelName: string;
  totalContextLength: number;
  maxGenerationLength: number;
  tokenizerClass: string;
  createNewTurnAfter: number;
  summaryTurns: number;
  maxNewTurns: number;
  temperature: number;
  top_p: number;
  reduceSummary: boolean;
  consolidateSummary: boolean;
  type: OutputType;
  /** `null` or absent: the reduce step uses the service's own prompt. */
  reduce_prompt?: string | null;
}

/** What a job holds in Redis: the resolved service, its flavor and the text. */
export interface SummarizationJobData {
  service: { route: string; promptName: string; fields: 1 | 2 };
  flavor: FlavorParameters;
  text: string;
}

/**
 * The summary lines a running job has produced so far, in document order (a Redis list the
 * worker appends to): what `WS /ws/results/<id>?partial=true` shows before the job completes.
 */
export const partialSummaryKey = (jobId: string) => `llm-gateway:partial:${jobId}`;

/**
 * Progress as stored by BullMQ and carried by its `progress` events: `started` until the text is
 * split, then turn counts and the lines this update appended to the partial summary list.
 */
export type JobProgress =
  | { phase: 'started' }
  | {
      phase: 'processing';
      turnsDone: number;
      totalTurns: number;
      /** Length of the partial summary list after this update. */
      summaryLineCount: number;
      newSummaryLines: string[];
    };
