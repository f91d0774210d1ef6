import type {
  OpenAPIObject,
  PathItemObject,
  ResponseObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import type { ServiceDefinition } from './manifest-validation.util';

const errorBody = (example: string): ResponseObject['content'] => ({
  'application/json': {
    schema: {
      type: 'object',
      properties: { detail: { type: 'string', example } },
      required: ['detail'],
    },
  },
});

/**
 * One documented `POST /services/<route>/generate` per loaded service: its description, its
 * flavors as an enum, the multipart and JSON request forms and every response code. Pure.
 */
export function buildServicePaths(services: readonly ServiceDefinition[]): Record<string, PathItemObject> {
  return Object.fromEntries(
    services.map((service) => [`/services/${service.route}/generate`, buildGeneratePath(service)]),
  );
}

/** The document served at SWAGGER_URL: the scanned base plus the current services' paths. */
export function withServicePaths(base: OpenAPIObject, services: readonly ServiceDefinition[]): OpenAPIObject {
  return { ...base, paths: { ...base.paths, ...buildServicePaths(services) } };
}

function buildGeneratePath(service: ServiceDefinition): PathItemObject {
  const { manifest } = service;
  const flavorNames = manifest.flavor.map((flavor) => flavor.name);
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
  ].join('\n\n');

  const samplingProperties = {
    flavor: { type: 'string', enum: flavorNames, description: 'Flavor of the service to run.' },
    temperature: {
      type: 'number',
      minimum: 0,
      maximum: 2,
      description: "Overrides the flavor's temperature.",
    },
    top_p: {
      type: 'number',
      exclusiveMinimum: true,
      minimum: 0,
      maximum: 1,
      description: "Overrides the flavor's top_p.",
    },
  };

  return {
    post: {
      tags: ['services'],
      operationId: `generate_${service.route.replace(/[^A-Za-z0-9]+/g, '_')}`,
      summary: summary ?? `Run ${service.route}`,
      description,
      requestBody: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              required: ['file', 'flavor'],
              properties: {
                file: { type: 'string', format: 'binary', description: 'The text to process, UTF-8.' },
                ...samplingProperties,
              },
            },
          },
          'application/json': {
            schema: {
              type: 'object',
              required: ['content', 'flavor'],
              properties: {
                content: { type: 'string', description: 'The text to process.' },
                ...samplingProperties,
              },
            },
          },
        },
      },
      responses: {
        '200': {
          description: 'The job is stored in Redis; follow it at /results/{jobId}.',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  message: { type: 'string', example: 'Request successfully queued' },
                  jobId: { type: 'string' },
                },
                required: ['message', 'jobId'],
              },
            },
          },
        },
        '400': {
          description: 'Missing content or flavor, text not UTF-8, temperature or top_p out of range.',
          content: errorBody('Missing content'),
        },
        '401': {
          description: 'API_KEYS is set and the request has no valid key.',
          content: errorBody('Invalid or missing API key'),
        },
        '404': { description: 'Unknown service or flavor.', content: errorBody('Flavor not found') },
        '413': { description: 'Larger than MAX_UPLOAD_SIZE.', content: errorBody('File too large') },
        '503': {
          description: 'Redis is unavailable; nothing was queued.',
          content: errorBody('Redis is unavailable'),
        },
      },
    },
  };
}
