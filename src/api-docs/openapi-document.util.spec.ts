import type { OpenAPIObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { completeOpenApiDocument } from './openapi-document.util';

const scanned: OpenAPIObject = {
  openapi: '3.0.0',
  info: { title: 't', version: '1' },
  paths: {
    '/healthcheck': { get: { tags: ['health'], responses: { '200': { description: 'ok' } } } },
    '/health/ready': {
      get: {
        tags: ['health'],
        responses: { '200': { description: 'ok' }, '503': { description: 'Redis is unreachable' } },
      },
    },
    '/results/{id}': {
      get: {
        tags: ['results'],
        responses: {
          '404': {
            description: 'gone',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/UnknownTask' } } },
          },
        },
      },
    },
  },
};

describe('completeOpenApiDocument', () => {
  it.each([
    [true, [{ bearerAuth: [] }, { apiKeyHeader: [] }]],
    [false, [{ bearerAuth: [] }, { apiKeyHeader: [] }, {}]],
  ])('with a key required: %p, the security requirements are %p', (isKeyRequired, security) => {
    const document = completeOpenApiDocument(scanned, { schemas: {}, isKeyRequired, publicTags: ['health'] });
    expect(document.security).toEqual(security);
    expect(Object.keys(document.components?.securitySchemes ?? {})).toEqual(['bearerAuth', 'apiKeyHeader']);
  });

  const document = completeOpenApiDocument(scanned, {
    schemas: { Extra: { type: 'string' } },
    isKeyRequired: true,
    publicTags: ['health'],
  });

  it('lets the public operations answer without a key, and adds 401 to every other', () => {
    expect(document.paths['/healthcheck']?.get?.security).toEqual([]);
    expect(document.paths['/healthcheck']?.get?.responses).not.toHaveProperty('401');
    expect(document.paths['/results/{id}']?.get?.security).toBeUndefined();
    expect(document.paths['/results/{id}']?.get?.responses).toHaveProperty('401');
  });

  it('gives an error answer declared without a body the {detail} body, and keeps the bodies it has', () => {
    expect(document.paths['/health/ready']?.get?.responses['503']).toEqual({
      description: 'Redis is unreachable',
      content: {
        'application/json': {
          schema: { $ref: '#/components/schemas/ErrorDetail' },
          example: { detail: 'Redis is unreachable' },
        },
      },
    });
    expect(JSON.stringify(document.paths['/results/{id}']?.get?.responses['404'])).toContain('UnknownTask');
  });

  it('adds the named schemas, ErrorDetail included', () => {
    expect(Object.keys(document.components?.schemas ?? {})).toEqual(['ErrorDetail', 'Extra']);
  });
});
