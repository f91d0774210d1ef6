import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifestFile, type ServiceDefinition } from './manifest-validation.util';
import { buildServicePaths, withServicePaths } from './openapi-paths.util';

function services(file: string): ServiceDefinition[] {
  const text = readFileSync(join(__dirname, '../../test/fixtures/manifests/ok', file), 'utf8');
  const result = parseManifestFile(text, {});
  if (!result.isValid) throw new Error('fixture must be valid');
  return result.services;
}

describe('buildServicePaths', () => {
  const paths = buildServicePaths(services('two-services-two-flavors.yaml'));

  it('gives every service its own route, slashes kept', () => {
    expect(Object.keys(paths)).toEqual(['/services/cra/generate', '/services/report/markdown/v2/generate']);
  });

  it('lists the flavors as an enum in both request forms', () => {
    const content = paths['/services/cra/generate']?.post?.requestBody;
    const forms = content && 'content' in content ? content.content : {};
    for (const mediaType of ['multipart/form-data', 'application/json']) {
      const schema = forms[mediaType]?.schema as {
        properties: Record<string, { enum?: string[] }>;
        required: string[];
      };
      expect(schema.properties.flavor?.enum).toEqual(['mixtral', 'llama']);
      expect(schema.required).toContain('flavor');
    }
  });

  it('documents the description and every response code', () => {
    const operation = paths['/services/cra/generate']?.post;
    expect(operation?.summary).toBe('Analytic report');
    expect(operation?.description).toContain('**fr**: Compte Rendu Analytique');
    expect(Object.keys(operation?.responses ?? {}).sort()).toEqual([
      '200',
      '400',
      '401',
      '404',
      '413',
      '503',
    ]);
  });

  it('merges into a base document without dropping its paths', () => {
    const document = withServicePaths(
      { openapi: '3.0.0', info: { title: 't', version: '1' }, paths: { '/services': {} } },
      services('v1-style.yaml'),
    );
    expect(Object.keys(document.paths)).toEqual(['/services', '/services/summarize-en/generate']);
  });
});
