import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifestFile, type ServiceDefinition } from './manifest-validation.util';
import {
  buildServicePaths,
  GENERIC_GENERATE_PATH,
  generateOperationIds,
  SERVICE_ROUTE_EXTENSION,
  withServicePaths,
} from './openapi-paths.util';

function services(file: string): ServiceDefinition[] {
  const text = readFileSync(join(__dirname, '../../test/fixtures/manifests/ok', file), 'utf8');
  const result = parseManifestFile(text, {});
  if (!result.isValid) throw new Error('fixture must be valid');
  return result.services;
}

describe('generateOperationIds', () => {
  it.each([
    [['summarize/en'], ['generate_summarize_en']],
    [
      ['summarize-fr', 'report/markdown/v2'],
      ['generate_summarize_fr', 'generate_report_markdown_v2'],
    ],
    [['a.b_c'], ['generate_a_b_c']],
    [
      ['summarize/en', 'summarize-en', 'summarize.en'],
      ['generate_summarize_en', 'generate_summarize_en_2', 'generate_summarize_en_3'],
    ],
  ])('%p → %p', (routes, ids) => {
    expect(generateOperationIds(routes)).toEqual(ids);
  });
});

describe('buildServicePaths', () => {
  const paths = buildServicePaths(services('two-services-two-flavors.yaml'));

  it('gives every service its own route, slashes kept, and names its operation after it', () => {
    expect(Object.keys(paths)).toEqual(['/services/cra/generate', '/services/report/markdown/v2/generate']);
    const operation: Record<string, unknown> = { ...paths['/services/report/markdown/v2/generate']?.post };
    expect(operation.operationId).toBe('generate_report_markdown_v2');
    expect(operation[SERVICE_ROUTE_EXTENSION]).toBe('report/markdown/v2');
  });

  it('declares only the multipart request, with the flavors as an enum; JSON is described', () => {
    const operation = paths['/services/cra/generate']?.post;
    const body = operation?.requestBody;
    const forms = body && 'content' in body ? body.content : {};
    expect(Object.keys(forms)).toEqual(['multipart/form-data']);
    const schema = forms['multipart/form-data']?.schema as {
      properties: Record<string, { enum?: string[] }>;
      required: string[];
    };
    expect(schema.properties.flavor?.enum).toEqual(['mixtral', 'llama']);
    expect(schema.required).toEqual(['file', 'flavor']);
    expect(operation?.description).toContain('application/json');
    const withExtensions: Record<string, unknown> = { ...operation };
    expect(withExtensions['x-json-request-body']).toEqual({
      'application/json': { schema: { $ref: '#/components/schemas/GenerateJsonRequest' } },
    });
  });

  it('documents the description and every response code with a named body', () => {
    const operation = paths['/services/cra/generate']?.post;
    expect(operation?.summary).toBe('Analytic report');
    expect(operation?.description).toContain('**fr**: Compte Rendu Analytique');
    const responses = operation?.responses ?? {};
    expect(Object.keys(responses).sort()).toEqual(['200', '400', '401', '404', '413', '503']);
    for (const [status, response] of Object.entries(responses)) {
      const schema = (response as { content?: Record<string, { schema?: { $ref?: string } }> }).content?.[
        'application/json'
      ]?.schema;
      expect([status, schema?.$ref]).toEqual([
        status,
        status === '200' ? '#/components/schemas/QueuedJob' : '#/components/schemas/ErrorDetail',
      ]);
    }
  });

  it('merges the generic and the per-service paths into a base document without dropping its paths', () => {
    const document = withServicePaths(
      { openapi: '3.0.0', info: { title: 't', version: '1' }, paths: { '/services': {} } },
      services('v1-style.yaml'),
    );
    expect(Object.keys(document.paths)).toEqual([
      '/services',
      GENERIC_GENERATE_PATH,
      '/services/summarize-en/generate',
    ]);
    expect(document.paths[GENERIC_GENERATE_PATH]?.post?.operationId).toBe('generate');
  });
});
