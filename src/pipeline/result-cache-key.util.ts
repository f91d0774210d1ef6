import { createHash } from 'node:crypto';
import { FLAVOR_FIELDS, type FlavorParameters, type SummarizationJobData } from '../jobs/job-payload';

/** Bumped when what a cached summary depends on changes (the pipeline's algorithm included). */
const CACHE_FORMAT = 'llm-gateway result cache 1';

export interface ResultCacheInput {
  service: SummarizationJobData['service'];
  /** The requested flavor with the request's overrides (temperature, top_p) applied. */
  flavor: FlavorParameters;
  text: string;
  /** The prompt file's contents as read for this job. */
  template: string;
  /** The reduce prompt's contents; only part of the key when the flavor reduces. */
  reduceTemplate: string;
}

/**
 * The result cache's key of a job (docs/api.md, "Result cache"): the sha256, in hex, of
 * everything its summary depends on: the service's route and `fields`, every field of the
 * requested flavor (model, sampling, budgets, output type, in a fixed order), the prompt files'
 * contents, and the text. It holds no secret (neither the API key nor the LLM endpoint is an
 * input) and never the text itself. Two jobs with the same key produce the same summary given a
 * deterministic model. Pure.
 */
export function resultCacheKey(input: ResultCacheInput): string {
  const flavor = FLAVOR_FIELDS.map((field) => [field, input.flavor[field] ?? null]);
  const header = JSON.stringify({
    format: CACHE_FORMAT,
    route: input.service.route,
    fields: input.service.fields,
    flavor,
    template: input.template,
    reduceTemplate: input.flavor.reduceSummary ? input.reduceTemplate : null,
    textLength: input.text.length,
  });
  // The header's length first: no header and text can be shifted into another pair.
  return createHash('sha256').update(`${header.length}\n${header}\n`).update(input.text).digest('hex');
}
