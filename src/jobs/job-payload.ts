/**
 * The job contract, defined once: what a flavor holds, what a job carries from the API to a
 * worker, and what a worker reports back. The manifest schema (services/) implements
 * `FlavorParameters`; the pipeline (pipeline/) reads `SummarizationJobData`; both sides of the
 * progress events read `JobProgress`. See docs/architecture.md, "The job contract".
 */

/** The BullMQ queue every job goes through. */
export const SUMMARIZATION_QUEUE = 'summarization';

/** What a summary looks like (docs/api.md, "Services"): `markdown` keeps the model's layout. */
export const OUTPUT_TYPES = ['abstractive', 'extractive', 'markdown'] as const;
export type OutputType = (typeof OUTPUT_TYPES)[number];

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
  /**
   * (new) Name of another flavor of the same service that a job goes on with when this flavor's
   * model fails (docs/api.md, "Failover"); `null` or absent: none.
   */
  fallback?: string | null;
}

/**
 * Every field of a flavor, in the order manifests write them. A record over FlavorParameters'
 * keys: a field added there and not here (or the other way round) does not compile.
 */
const FLAVOR_FIELD_ORDER: Record<keyof FlavorParameters, true> = {
  name: true,
  modelName: true,
  totalContextLength: true,
  maxGenerationLength: true,
  tokenizerClass: true,
  createNewTurnAfter: true,
  summaryTurns: true,
  maxNewTurns: true,
  temperature: true,
  top_p: true,
  reduceSummary: true,
  consolidateSummary: true,
  reduce_prompt: true,
  type: true,
  fallback: true,
};
export const FLAVOR_FIELDS = Object.keys(FLAVOR_FIELD_ORDER) as (keyof FlavorParameters)[];

/** Flavor fields that hold numbers (v1 files may carry them as strings: `${oc.env:TEMP,0.2}`). */
export const NUMERIC_FLAVOR_FIELDS = [
  'totalContextLength',
  'maxGenerationLength',
  'createNewTurnAfter',
  'summaryTurns',
  'maxNewTurns',
  'temperature',
  'top_p',
] as const satisfies readonly (keyof FlavorParameters)[];

/** Flavor fields that hold booleans. */
export const BOOLEAN_FLAVOR_FIELDS = [
  'reduceSummary',
  'consolidateSummary',
] as const satisfies readonly (keyof FlavorParameters)[];

/** The flavor fields v1's own manifests omit, and their values then (v1's behaviour). */
export const FLAVOR_DEFAULTS = {
  reduceSummary: false,
  consolidateSummary: false,
  type: 'abstractive',
} as const satisfies Partial<FlavorParameters>;

/** What a job holds in Redis: the resolved service, its flavor and the text. */
export interface SummarizationJobData {
  service: { route: string; promptName: string; fields: 1 | 2 };
  flavor: FlavorParameters;
  /** The text, for jobs queued before `isTextStoredApart`; empty otherwise. */
  text: string;
  /**
   * Set by this version's API: the text is in its own key (JobStateRepository `readText`), not in
   * the job, so that every read of the job (a status poll, a worker taking it) stays small however
   * large the text is: BullMQ parses a job's whole data on each of them.
   */
  isTextStoredApart?: boolean;
  /**
   * (new) The flavors `flavor.fallback` leads to, in order, per-request overrides applied: a job
   * whose model fails goes on with the next one. Absent (jobs queued before failover existed,
   * flavors without fallback): none.
   */
  fallbackFlavors?: FlavorParameters[];
  /**
   * Set by this version's API: the job runs only once its request was accepted
   * (JobStateRepository admission). Jobs queued before it carry none and run as they did.
   */
  isAdmissionRequired?: boolean;
}

/**
 * Progress as stored by BullMQ and carried by its `progress` events: `started` until the text is
 * split, then turn counts and the lines this update appended to the job's partial summary.
 */
export type JobProgress =
  | { phase: 'started' }
  | {
      phase: 'processing';
      turnsDone: number;
      totalTurns: number;
      /** Length of the partial summary after this update. */
      summaryLineCount: number;
      newSummaryLines: string[];
    };

/**
 * What a finished job cost (docs/api.md, "Usage"), shown in its `complete` body: the LLM calls of
 * the job (across failovers and workers), their tokens (the server's `usage` when it sent one, else the
 * gateway's own count), the worker's wall time, and the flavor that actually ran (the fallback's
 * name after a failover). A result served from the cache has `cached: true` and no calls.
 */
export interface JobUsage {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  durationMs: number;
  flavor: string;
  cached?: boolean;
}
