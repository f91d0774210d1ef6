import type { ReferenceObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { schemaRef } from '../api-schemas/error-detail.dto';

/** The states of docs/api.md section 4, each a variant of `JobState` told apart by `status`. */
export const JOB_STATE_VARIANTS = {
  queued: 'QueuedState',
  started: 'StartedState',
  processing: 'ProcessingState',
  complete: 'CompleteState',
  error: 'ErrorState',
  unknown: 'UnknownState',
} as const;

const PENDING_STATUSES = ['queued', 'started', 'processing'] as const;

function stateSchema(
  status: keyof typeof JOB_STATE_VARIANTS,
  message: string,
  description: string,
  extra: Record<string, SchemaObject> = {},
  optional: Record<string, SchemaObject | ReferenceObject> = {},
): SchemaObject {
  return {
    type: 'object',
    description,
    required: ['status', 'message', ...Object.keys(extra)],
    properties: {
      status: { type: 'string', enum: [status] },
      message: { type: 'string', enum: [message] },
      ...extra,
      ...optional,
    },
  };
}

const count = (description: string): SchemaObject => ({ type: 'integer', minimum: 0, description });

/** (new) What a finished job cost: `JobUsage` (jobs/job-payload.ts). */
const USAGE_SCHEMA: SchemaObject = {
  type: 'object',
  description:
    '(new) What the job cost. Absent from jobs finished by a gateway version that did not record it.',
  required: ['calls', 'promptTokens', 'completionTokens', 'durationMs', 'flavor'],
  properties: {
    calls: count('LLM calls answered for the job, across failovers and workers (0 for a cached result).'),
    promptTokens: count(
      "Prompt tokens of those calls: the server's `usage` when it sent one, else the gateway's count.",
    ),
    completionTokens: count(
      "Completion tokens of those calls: the server's `usage` when it sent one, else the gateway's count.",
    ),
    durationMs: count("The workers' time on the job, in milliseconds (time in the queue excluded)."),
    flavor: {
      type: 'string',
      description:
        'The flavor that produced the summary: the requested one, or its `fallback` after a failover.',
      example: 'small',
    },
    cached: {
      type: 'boolean',
      description: 'Present and true when the summary came from the result cache (no LLM call).',
    },
  },
  example: { calls: 12, promptTokens: 18250, completionTokens: 2104, durationMs: 4321, flavor: 'small' },
};

function union(statuses: readonly (keyof typeof JOB_STATE_VARIANTS)[], description: string): SchemaObject {
  return {
    description,
    oneOf: statuses.map((status) => schemaRef(JOB_STATE_VARIANTS[status])),
    discriminator: {
      propertyName: 'status',
      mapping: Object.fromEntries(
        statuses.map((status) => [status, schemaRef(JOB_STATE_VARIANTS[status]).$ref]),
      ),
    },
  };
}

const reason = (description: string): SchemaObject => ({
  type: 'string',
  description,
  example: 'cancelled',
});

/**
 * The bodies of `GET /results/{id}` and of the WebSocket messages (docs/api.md sections 4 and 5), as
 * named OpenAPI schemas. Each state has its own schema with its `status` and `message` fixed;
 * `JobState` is their union, discriminated by `status`.
 */
export const JOB_STATE_SCHEMAS: Record<string, SchemaObject> = {
  QueuedState: stateSchema('queued', 'Task is in queue', 'Waiting in the queue (HTTP 202).'),
  StartedState: stateSchema(
    'started',
    'Task started',
    'Taken by a worker, the text not split into turns yet (HTTP 202).',
  ),
  ProcessingState: stateSchema('processing', 'Task is in progress', 'Running (HTTP 202).', {
    progress: {
      type: 'string',
      pattern: '^[0-9]{1,3}$',
      description: 'Integer percent of the turns done, as a string (v1): "0" to "100".',
      example: '42',
    },
  }),
  CompleteState: stateSchema(
    'complete',
    'success',
    'Done (HTTP 200).',
    { summarization: { type: 'string', description: 'The result, trimmed.' } },
    { usage: schemaRef('JobUsage') },
  ),
  ErrorState: stateSchema(
    'error',
    'Task failed',
    'Failed (HTTP 500); a cancelled job has the reason `cancelled`.',
    {
      details: reason('Why the job failed (v1 clients read it).'),
      error: reason('The same reason (other existing clients read this one).'),
    },
  ),
  UnknownState: stateSchema(
    'unknown',
    'Task does not exist',
    'Never existed, or finished more than RESULT_TTL ago.',
  ),
  UnknownTask: {
    ...stateSchema(
      'unknown',
      'Task does not exist',
      'The 404 answer of `GET /results/{id}` (v1 sent `detail` alone).',
      {
        detail: { type: 'string', enum: ['Unknown task status'] },
      },
    ),
    example: { detail: 'Unknown task status', status: 'unknown', message: 'Task does not exist' },
  },
  JobUsage: USAGE_SCHEMA,
  PendingJobState: union(
    PENDING_STATUSES,
    'A job not finished yet: queued, started or processing (HTTP 202).',
  ),
  JobState: union(
    Object.keys(JOB_STATE_VARIANTS) as (keyof typeof JOB_STATE_VARIANTS)[],
    'Any state of a job, told apart by `status`.',
  ),
  CancelResult: {
    type: 'object',
    description: 'What `DELETE /results/{id}` did.',
    required: ['status', 'message'],
    properties: {
      status: {
        type: 'string',
        enum: ['cancelled', 'deleted'],
        description:
          '`cancelled`: the job was queued or running and ends as `error` "cancelled"; `deleted`: it had finished and is gone.',
      },
      message: { type: 'string', enum: ['Task cancelled', 'Task deleted'] },
    },
  },
};
