import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { schemaRef } from '../api-schemas/error-detail.dto';
import { OUTPUT_TYPES, SERVICE_TYPES } from './manifest.schema';

const AS_WRITTEN =
  'a string when the manifest gave it through an interpolation (`${oc.env:VAR,0.2}`), as v1 showed it';

const numberAsWritten = (description: string): SchemaObject => ({
  description: `${description}; ${AS_WRITTEN}.`,
  oneOf: [{ type: 'number' }, { type: 'string' }],
});

const booleanAsWritten = (description: string): SchemaObject => ({
  description: `${description}; ${AS_WRITTEN}.`,
  oneOf: [{ type: 'boolean' }, { type: 'string' }],
});

/** What clients may send to run a service (docs/api.md section 4), shared by every generate operation. */
export const SAMPLING_PROPERTIES: Record<string, SchemaObject> = {
  temperature: {
    type: 'number',
    minimum: 0,
    maximum: 2,
    description: "Overrides the flavor's temperature (0 to 2).",
  },
  top_p: {
    type: 'number',
    exclusiveMinimum: true,
    minimum: 0,
    maximum: 1,
    description: "Overrides the flavor's top_p (greater than 0, at most 1).",
  },
};

/**
 * The bodies of `/services` and of the generate operations (docs/api.md sections 2 and 4) as named
 * OpenAPI schemas. A service is shown as its manifest was loaded: fields this page does not name
 * are kept, so the objects allow more properties.
 */
export const SERVICE_SCHEMAS: Record<string, SchemaObject> = {
  Flavor: {
    type: 'object',
    description: 'A variant of a service (a model and its settings), chosen by the `flavor` request field.',
    additionalProperties: true,
    required: [
      'name',
      'modelName',
      'totalContextLength',
      'maxGenerationLength',
      'tokenizerClass',
      'createNewTurnAfter',
      'summaryTurns',
      'maxNewTurns',
      'temperature',
      'top_p',
      'reduceSummary',
      'consolidateSummary',
      'type',
    ],
    properties: {
      name: { type: 'string', description: 'The flavor id clients send as `flavor`.', example: 'llama' },
      modelName: { type: 'string', description: 'Model id sent to the LLM API.' },
      totalContextLength: numberAsWritten('Model context in tokens'),
      maxGenerationLength: numberAsWritten('Tokens generated at most by one call'),
      tokenizerClass: { type: 'string', description: 'Which tokenizer counts tokens.' },
      createNewTurnAfter: numberAsWritten('A turn longer than this many tokens is split'),
      summaryTurns: numberAsWritten('Summary lines carried into the next prompt'),
      maxNewTurns: numberAsWritten('Most turns in one batch'),
      temperature: numberAsWritten('Sampling temperature, 0 to 2'),
      top_p: numberAsWritten('Sampling top_p, greater than 0 and at most 1'),
      reduceSummary: booleanAsWritten('Whether the summary goes through a reduce step'),
      consolidateSummary: booleanAsWritten('Whether consecutive lines of a speaker are merged'),
      type: { type: 'string', enum: [...OUTPUT_TYPES] },
      reduce_prompt: {
        type: 'string',
        nullable: true,
        description: 'Prompt file of the reduce step; null: the service prompt.',
      },
      fallback: {
        type: 'string',
        nullable: true,
        description:
          '(new) Another flavor of this service: a job whose model fails (429, 5xx or timeout after its retries, or model not found) goes on with it.',
      },
    },
  },
  Service: {
    type: 'object',
    description:
      'A loaded service: its manifest as loaded (every field, defaults filled, `${oc.env:...}` resolved), `route` always present. Run it with `POST /services/{route}/generate`.',
    additionalProperties: true,
    required: ['route', 'type', 'fields', 'name', 'flavor'],
    properties: {
      route: {
        type: 'string',
        example: 'summarize/en',
        description: 'The service is at /services/{route}/generate.',
      },
      type: { type: 'string', enum: [...SERVICE_TYPES] },
      fields: numberAsWritten(
        '1: independent map over batches; 2: progressive (the summary so far in each prompt)',
      ),
      name: { type: 'string', description: 'The prompt is prompts/{name}.txt.' },
      description: {
        description:
          'Text shown to users: a map of language to text (`{"en": "..."}`), or one text (v1 accepted both).',
        oneOf: [
          { type: 'object', additionalProperties: { type: 'string' } },
          { type: 'string', nullable: true },
        ],
      },
      backend: { type: 'string', nullable: true, description: 'Deprecated, ignored.' },
      flavor: { type: 'array', minItems: 1, items: schemaRef('Flavor') },
    },
  },
  ServiceList: {
    type: 'array',
    description: 'The loaded services, in the order of the `defaults:` list of config.yaml, then file order.',
    items: schemaRef('Service'),
  },
  QueuedJob: {
    type: 'object',
    description:
      'The job is stored in Redis: follow it at `GET /results/{jobId}` or `WS /ws/results/{jobId}`.',
    required: ['message', 'jobId'],
    properties: {
      message: { type: 'string', enum: ['Request successfully queued'] },
      jobId: {
        type: 'string',
        description: 'A random UUID: the only key to the result, keep it private.',
        example: '6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f',
      },
    },
  },
  GenerateForm: {
    type: 'object',
    description: 'A generate request as `multipart/form-data` (what v1 clients send).',
    required: ['file', 'flavor'],
    properties: {
      file: { type: 'string', format: 'binary', description: 'The text to process, UTF-8.' },
      flavor: { type: 'string', description: "One of the service's flavor names." },
      ...SAMPLING_PROPERTIES,
    },
  },
  GenerateJsonRequest: {
    type: 'object',
    description:
      'The same request as JSON (`Content-Type: application/json`), accepted by every generate route. Not declared as a request body of the operations, so that generated clients send multipart.',
    required: ['content', 'flavor'],
    properties: {
      content: { type: 'string', description: 'The text to process.' },
      flavor: { type: 'string', description: "One of the service's flavor names." },
      ...SAMPLING_PROPERTIES,
    },
  },
};
