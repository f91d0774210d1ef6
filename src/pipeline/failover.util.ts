import { batchTokenBudget } from '../chunking/budget.util';
import { InferenceError } from '../inference/inference.error';
import type { FlavorParameters } from '../jobs/job-payload';

/**
 * Whether a job that failed with `error` goes on with its flavor's fallback (docs/api.md,
 * "Failover"): a call that still failed after its retries (429, 5xx, timeouts, broken
 * connections: RETRIES_EXHAUSTED), or a server that does not serve the model (404,
 * MODEL_NOT_FOUND). Never for a cancellation, a rejected request or a bug. Pure.
 */
export function isFailoverError(error: unknown): boolean {
  return (
    error instanceof InferenceError &&
    (error.code === 'RETRIES_EXHAUSTED' || error.code === 'MODEL_NOT_FOUND')
  );
}

/** The flavor fields that decide a job's turns, batches and summary lines, so its checkpoint. */
const PLAN_FIELDS = [
  'tokenizerClass',
  'totalContextLength',
  'maxGenerationLength',
  'createNewTurnAfter',
  'summaryTurns',
  'maxNewTurns',
  'type',
] as const satisfies readonly (keyof FlavorParameters)[];

/**
 * Whether a checkpoint saved on flavor `from` is valid on flavor `to`: the turns, their split and
 * the batches are planned from these fields (and the tokenizer, which the caller compares once
 * resolved: the model name can refine it), so equal fields give the same plan, and the answers
 * already saved keep their place. Otherwise the checkpoint's turn indices and batches belong to
 * another plan, and the job starts over on `to`. Pure.
 */
export function isPlanShared(from: FlavorParameters, to: FlavorParameters): boolean {
  return PLAN_FIELDS.every((field) => from[field] === to[field]);
}

/**
 * Whether a flavor leaves room for at least one token of text once its prompt (`promptTokens`,
 * placeholders empty) and its generation are taken from its context: a flavor without room can
 * run no text at all, whatever the splitting. Pure.
 */
export function hasRoomForText(flavor: FlavorParameters, promptTokens: number): boolean {
  return (
    batchTokenBudget({
      totalContextLength: flavor.totalContextLength,
      maxGenerationLength: flavor.maxGenerationLength,
      promptTokens,
      contextTokens: 0,
    }) > 0
  );
}
