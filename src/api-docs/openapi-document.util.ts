import type {
  OpenAPIObject,
  OperationObject,
  ResponseObject,
  SchemaObject,
  SecurityRequirementObject,
  SecuritySchemeObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ERROR_SCHEMAS, errorContent, UNAUTHORIZED_RESPONSE } from '../api-schemas/error-detail.dto';

/** The two ways an HTTP request presents a key (README "HTTP API"). */
export const SECURITY_SCHEMES: Record<string, SecuritySchemeObject> = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    description: 'One of the API_KEYS, as `Authorization: Bearer <key>`.',
  },
  apiKeyHeader: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'One of the API_KEYS, as `X-API-Key: <key>`.',
  },
};

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/**
 * Completes the document Nest scanned: the named schemas, the API-key security schemes applied
 * to every operation but those tagged with one of `publicTags` (which answer without a key), the
 * `401` answer on every secured operation and the `{detail}` body on every error answer declared
 * without one (the exception filter answers every error in that shape). With `isKeyRequired`
 * false (API_KEYS empty), the key is declared optional: an empty requirement is one of the
 * alternatives. Pure: returns a new document.
 */
export function completeOpenApiDocument(
  scanned: OpenAPIObject,
  options: { schemas: Record<string, SchemaObject>; isKeyRequired: boolean; publicTags: readonly string[] },
): OpenAPIObject {
  const security: SecurityRequirementObject[] = [
    ...Object.keys(SECURITY_SCHEMES).map((name) => ({ [name]: [] })),
    ...(options.isKeyRequired ? [] : [{}]),
  ];
  const paths = Object.fromEntries(
    Object.entries(scanned.paths).map(([path, item]) => {
      const completed = { ...item };
      for (const method of HTTP_METHODS) {
        const operation = item[method];
        if (operation) completed[method] = completeOperation(operation, options.publicTags);
      }
      return [path, completed];
    }),
  );
  return {
    ...scanned,
    paths,
    security,
    components: {
      ...scanned.components,
      schemas: { ...scanned.components?.schemas, ...ERROR_SCHEMAS, ...options.schemas },
      securitySchemes: { ...scanned.components?.securitySchemes, ...SECURITY_SCHEMES },
    },
  };
}

function completeOperation(operation: OperationObject, publicTags: readonly string[]): OperationObject {
  const isPublic = (operation.tags ?? []).some((tag) => publicTags.includes(tag));
  const responses: Record<string, ResponseObject> = {};
  for (const [status, response] of Object.entries(operation.responses) as [string, ResponseObject][]) {
    const isError = /^[45]/.test(status);
    responses[status] =
      isError && !response.content ? { ...response, content: errorContent(response.description) } : response;
  }
  if (!isPublic && !('401' in responses)) responses['401'] = UNAUTHORIZED_RESPONSE;
  return { ...operation, responses, ...(isPublic ? { security: [] } : {}) };
}
