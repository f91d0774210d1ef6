import type {
  OpenAPIObject,
  OperationObject,
  PathItemObject,
  SchemaObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import {
  errorContent,
  REDIS_UNAVAILABLE_RESPONSE,
  schemaRef,
  UNAUTHORIZED_RESPONSE,
} from '../api-schemas/error-detail.dto';
import type { ServiceDefinition } from './manifest-validation.util';
import { SAMPLING_PROPERTIES } from './service.dto';

/** The vendor extension naming the service of a per-service generate operation. */
export const SERVICE_ROUTE_EXTENSION = 'x-service-route';

/** An operation with vendor extensions (`x-...`), which OpenAPI allows on every object. */
type ExtendedOperation = OperationObject & { [extension: `x-${string}`]: unknown };

/** The generic generate operation: any route, for clients that must work with every service. */
export const GENERIC_GENERATE_PATH = '/services/{route}/generate';

const JSON_ALTERNATIVE = [
  '**JSON instead of multipart.** The same request is accepted as `Content-Type: application/json`:',
  '`{"content": "<the text>", "flavor": "...", "temperature": 0.2, "top_p": 0.7}` (schema',
  '`GenerateJsonRequest`). It is not declared as a second request body, so that generated clients',
  'send multipart; the `x-json-request-body` extension of this operation points to its schema.',
].join('\n');

/**
 * The operation id of a service's generate operation: `generate_` followed by its route, each run
 * of characters other than letters, digits and `_` replaced by one `_` (`summarize/en` →
 * `generate_summarize_en`). Routes that would share an id (`summarize/en`, `summarize-en`) get
 * `_2`, `_3`... in the order given. Pure.
 */
export function generateOperationIds(routes: readonly string[]): string[] {
  const taken = new Set<string>();
  return routes.map((route) => {
    const base = `generate_${route.replace(/[^A-Za-z0-9_]+/g, '_')}`;
    let id = base;
    for (let suffix = 2; taken.has(id); suffix += 1) id = `${base}_${suffix}`;
    taken.add(id);
    return id;
  });
}

/**
 * One documented `POST /services/<route>/generate` per loaded service: its description, its
 * flavors as an enum, the multipart request (the JSON alternative described, not declared) and
 * every response code. Pure.
 */
export function buildServicePaths(services: readonly ServiceDefinition[]): Record<string, PathItemObject> {
  const operationIds = generateOperationIds(services.map((service) => service.route));
  return Object.fromEntries(
    services.map((service, index) => [
      `/services/${service.route}/generate`,
      { post: buildServiceOperation(service, operationIds[index] ?? '') },
    ]),
  );
}

/** The document served: the scanned base plus the generic generate path and the services' paths. */
export function withServicePaths(base: OpenAPIObject, services: readonly ServiceDefinition[]): OpenAPIObject {
  return {
    ...base,
    paths: {
      ...base.paths,
      [GENERIC_GENERATE_PATH]: { post: buildGenericOperation() },
      ...buildServicePaths(services),
    },
  };
}

function buildGenericOperation(): OperationObject {
  return generateOperation({
    operationId: 'generate',
    summary: 'Run any service, named by its route',
    description: [
      'The generic form of the per-service operations below (each service also has its own path,',
      'with its flavors listed): for clients that must work with any service. List the services and',
      'their flavors with `GET /services`.',
      '',
      '`route` may hold slashes (`summarize/en`): send them as they are, or percent-encoded',
      '(`summarize%2Fen`, as generated clients encode a path parameter); both reach the service.',
      '',
      JSON_ALTERNATIVE,
    ].join('\n'),
    form: schemaRef('GenerateForm'),
    parameters: [
      {
        name: 'route',
        in: 'path',
        required: true,
        description: "The service's `route` as `GET /services` lists it, e.g. `summarize/en`.",
        schema: { type: 'string', pattern: '^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$', example: 'summarize/en' },
      },
    ],
  });
}

function buildServiceOperation(service: ServiceDefinition, operationId: string): ExtendedOperation {
  const { manifest } = service;
  // v1 files may give one plain text instead of a map of languages.
  const descriptions =
    typeof manifest.description === 'string'
      ? [['', manifest.description] as const]
      : Object.entries(manifest.description ?? {});
  const summary = descriptions.find(([language]) => language === 'en')?.[1] ?? descriptions[0]?.[1];
  const flavorTable = manifest.flavor
    .map(
      (flavor) =>
        `| ${flavor.name} | ${flavor.modelName} | ${flavor.totalContextLength} | ${flavor.temperature} | ${flavor.top_p} |`,
    )
    .join('\n');
  const description = [
    ...descriptions.map(([language, text]) => (language ? `**${language}**: ${text}` : text)),
    `Mode: ${manifest.fields === 2 ? 'progressive (fields: 2)' : 'independent map (fields: 1)'}; prompt \`${manifest.name}\`.`,
    '| flavor | model | context (tokens) | temperature | top_p |\n| --- | --- | --- | --- | --- |\n' +
      flavorTable,
    JSON_ALTERNATIVE,
  ].join('\n\n');
  return {
    ...generateOperation({
      operationId,
      summary: summary ?? `Run ${service.route}`,
      description,
      form: {
        type: 'object',
        required: ['file', 'flavor'],
        properties: {
          file: { type: 'string', format: 'binary', description: 'The text to process, UTF-8.' },
          flavor: {
            type: 'string',
            enum: manifest.flavor.map((flavor) => flavor.name),
            description: 'Flavor of the service to run.',
          },
          ...SAMPLING_PROPERTIES,
        },
      },
      parameters: [],
    }),
    [SERVICE_ROUTE_EXTENSION]: service.route,
  };
}

function generateOperation(parts: {
  operationId: string;
  summary: string;
  description: string;
  form: SchemaObject | { $ref: string };
  parameters: OperationObject['parameters'];
}): ExtendedOperation {
  return {
    tags: ['services'],
    operationId: parts.operationId,
    summary: parts.summary,
    description: parts.description,
    ...(parts.parameters?.length ? { parameters: parts.parameters } : {}),
    requestBody: {
      required: true,
      content: { 'multipart/form-data': { schema: parts.form } },
    },
    'x-json-request-body': { 'application/json': { schema: schemaRef('GenerateJsonRequest') } },
    responses: {
      '200': {
        description: 'The job is stored in Redis; follow it at /results/{jobId}.',
        content: { 'application/json': { schema: schemaRef('QueuedJob') } },
      },
      '400': {
        description: 'Missing content or flavor, text not UTF-8, temperature or top_p out of range.',
        content: errorContent('Missing content'),
      },
      '401': UNAUTHORIZED_RESPONSE,
      '404': { description: 'Unknown service or flavor.', content: errorContent('Flavor not found') },
      '413': { description: 'Larger than MAX_UPLOAD_SIZE.', content: errorContent('File too large') },
      '503': REDIS_UNAVAILABLE_RESPONSE,
    },
  };
}
