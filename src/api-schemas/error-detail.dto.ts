import type { ContentObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

/** Where a named schema of the OpenAPI document lives (`components.schemas`). */
export function schemaRef(name: string): { $ref: string } {
  return { $ref: `#/components/schemas/${name}` };
}

/** FastAPI's error body (docs/api.md section 4): every error the gateway answers has this shape. */
export const ERROR_SCHEMAS: Record<string, SchemaObject> = {
  ErrorDetail: {
    type: 'object',
    description: "An error, in FastAPI's shape: `detail` names the field or the reason.",
    required: ['detail'],
    properties: { detail: { type: 'string', example: 'Flavor not found' } },
  },
};

/** The JSON content of an error response, with the `detail` this case answers as its example. */
export function errorContent(exampleDetail: string): ContentObject {
  return { 'application/json': { schema: schemaRef('ErrorDetail'), example: { detail: exampleDetail } } };
}

/** `401` of every operation that needs a key when API_KEYS is set. */
export const UNAUTHORIZED_RESPONSE = {
  description: 'API_KEYS is set and the request has no valid key.',
  content: errorContent('Invalid or missing API key'),
};

/** `503` of every operation that reads or writes Redis. */
export const REDIS_UNAVAILABLE_RESPONSE = {
  description: 'Redis is unavailable (answered within 2 s, never a hang); nothing was changed.',
  content: errorContent('Redis is unavailable'),
};
