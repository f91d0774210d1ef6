import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Parser } from '@asyncapi/parser';
import Ajv, { type ValidateFunction } from 'ajv';
import { asyncApiSchema } from '../src/api-docs/asyncapi-document.util';
import { REPOSITORY_ROOT, startTestGateway, type TestGateway } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import { readTranscript, startWorkerGateway, submit } from './support/pipeline-fixtures';
import { TestSocket, wsUrl } from './support/ws-client';

interface Operation {
  operationId?: string;
  tags?: string[];
  security?: unknown[];
  description?: string;
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
  'x-json-request-body'?: unknown;
  'x-service-route'?: string;
}
interface OpenApiDocument {
  openapi: string;
  info: { description: string };
  externalDocs?: { url: string };
  security: Record<string, string[]>[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

/** Spectral's DiagnosticSeverity.Error (the parser and the CLI carry their own copies of that enum). */
const isError = (severity: number) => severity === 0;

const operations = (document: OpenApiDocument) =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ path, method, operation })),
  );

/** Validates values against one named schema of a document (OpenAPI 3.0 schemas converted first). */
function schemaValidator(schemas: Record<string, unknown>, name: string): ValidateFunction {
  const ajv = new Ajv({ strict: false, allErrors: true });
  return ajv.compile({ components: { schemas }, allOf: [{ $ref: `#/components/schemas/${name}` }] });
}

function expectValid(validate: ValidateFunction, value: unknown, what: string): void {
  const isValid = validate(value);
  expect([what, value, isValid ? [] : validate.errors]).toEqual([what, value, []]);
}

describe('OpenAPI document', () => {
  let gateway: TestGateway;
  let document: OpenApiDocument;

  beforeAll(async () => {
    gateway = await startTestGateway();
    document = (await (await fetch(`${gateway.baseUrl}/openapi.json`)).json()) as OpenApiDocument;
  });
  afterAll(() => gateway.close());

  it('has a named schema for every body, the job states as a union discriminated by status', () => {
    expect(Object.keys(document.components.schemas).sort()).toEqual(
      [
        'CancelResult',
        'CompleteState',
        'ErrorDetail',
        'ErrorState',
        'Flavor',
        'GenerateForm',
        'GenerateJsonRequest',
        'JobState',
        'JobUsage',
        'PendingJobState',
        'ProcessingState',
        'QueuedJob',
        'QueuedState',
        'Service',
        'ServiceList',
        'StartedState',
        'UnknownState',
        'UnknownTask',
      ].sort(),
    );
    expect(document.components.schemas.JobState).toMatchObject({
      discriminator: { propertyName: 'status' },
      oneOf: ['Queued', 'Started', 'Processing', 'Complete', 'Error', 'Unknown'].map((state) => ({
        $ref: `#/components/schemas/${state}State`,
      })),
    });
    expect(document.components.schemas.UnknownTask).toMatchObject({
      required: ['status', 'message', 'detail'],
    });
    expect(document.components.schemas.ErrorState).toMatchObject({
      required: ['status', 'message', 'details', 'error'],
    });
    // (new) usage is added to complete bodies, never required: v1 bodies stay valid.
    expect(document.components.schemas.CompleteState).toMatchObject({
      required: ['status', 'message', 'summarization'],
      properties: { usage: { $ref: '#/components/schemas/JobUsage' } },
    });
    expect(document.components.schemas.JobUsage).toMatchObject({
      required: ['calls', 'promptTokens', 'completionTokens', 'durationMs', 'flavor'],
    });
    // Every response body is a named schema (or a list of them).
    for (const { path, method, operation } of operations(document)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const schema = response.content?.['application/json']?.schema;
        if (path === '/healthcheck' || path.startsWith('/health/')) continue; // not ours to name
        expect([method, path, status, schema?.$ref]).toEqual([
          method,
          path,
          status,
          expect.stringMatching(/^#\/components\/schemas\/\w+$/),
        ]);
      }
    }
  });

  it('names every operation readably, the per-service ones after their route', () => {
    const ids = operations(document).map(({ method, path, operation }) => [
      method,
      path,
      operation.operationId,
    ]);
    expect(ids).toEqual(
      expect.arrayContaining([
        ['get', '/healthcheck', 'healthcheck'],
        ['get', '/health/live', 'live'],
        ['get', '/health/ready', 'ready'],
        ['get', '/services', 'listServices'],
        ['get', '/results/{id}', 'getResult'],
        ['delete', '/results/{id}', 'cancelResult'],
        ['post', '/services/{route}/generate', 'generate'],
        ['post', '/services/summarize/en/generate', 'generate_summarize_en'],
        ['post', '/services/summarize-fr/generate', 'generate_summarize_fr'],
        ['post', '/services/report/markdown/generate', 'generate_report_markdown'],
      ]),
    );
    expect(ids).toHaveLength(10);
  });

  it('declares only multipart on the generate operations and describes the JSON form', () => {
    for (const { path, operation } of operations(document).filter(({ path }) => path.endsWith('/generate'))) {
      expect([path, Object.keys(operation.requestBody?.content ?? {})]).toEqual([
        path,
        ['multipart/form-data'],
      ]);
      expect(operation.description).toContain('Content-Type: application/json');
      expect(operation['x-json-request-body']).toEqual({
        'application/json': { schema: { $ref: '#/components/schemas/GenerateJsonRequest' } },
      });
    }
  });

  it('declares the API key (optional while API_KEYS is empty), on every operation but health, with its 401', () => {
    expect(document.components.securitySchemes).toEqual({
      bearerAuth: expect.objectContaining({ type: 'http', scheme: 'bearer' }) as unknown,
      apiKeyHeader: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }) as unknown,
    });
    expect(document.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }, {}]);
    for (const { path, operation } of operations(document)) {
      const isHealth = path === '/healthcheck' || path.startsWith('/health/');
      expect([path, operation.security]).toEqual([path, isHealth ? [] : undefined]);
      expect([path, '401' in operation.responses]).toEqual([path, !isHealth]);
    }
  });

  it('answers every documented code of GET /results/{id} and DELETE with a body', () => {
    const result = document.paths['/results/{id}'];
    expect(Object.keys(result?.get?.responses ?? {}).sort()).toEqual([
      '200',
      '202',
      '401',
      '404',
      '500',
      '503',
    ]);
    expect(Object.keys(result?.delete?.responses ?? {}).sort()).toEqual(['200', '401', '404', '503']);
    expect(Object.keys(document.paths['/services']?.get?.responses ?? {}).sort()).toEqual([
      '200',
      '401',
      '404',
    ]);
  });

  it('links the AsyncAPI document of the WebSocket API', () => {
    expect(document.externalDocs?.url).toBe('/asyncapi.json');
    expect(document.info.description).toContain('[/asyncapi.json](/asyncapi.json)');
  });

  /** Spectral's findings on a document, with the `spectral:oas` ruleset; throws if Spectral did not run. */
  async function spectral(linted: unknown): Promise<{ code: string; severity: number; path: string[] }[]> {
    const folder = mkdtempSync(join(tmpdir(), 'spectral-'));
    try {
      writeFileSync(join(folder, 'openapi.json'), JSON.stringify(linted));
      writeFileSync(join(folder, '.spectral.json'), JSON.stringify({ extends: ['spectral:oas'] }));
      const run = promisify(execFile)(
        process.execPath,
        [
          join(REPOSITORY_ROOT, 'node_modules/@stoplight/spectral-cli/dist/index.js'),
          'lint',
          join(folder, 'openapi.json'),
          '--ruleset',
          join(folder, '.spectral.json'),
          '--format',
          'json',
          '--quiet',
        ],
        { cwd: folder },
      );
      // Spectral exits 1 when it finds errors; its findings are on stdout either way.
      const { stdout } = await run.catch((error: unknown) => {
        const output = (error as { stdout?: unknown }).stdout;
        return { stdout: typeof output === 'string' ? output : '' };
      });
      return JSON.parse(stdout) as { code: string; severity: number; path: string[] }[];
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }

  it('passes the Spectral linter (spectral:oas ruleset) with no error', async () => {
    const findings = await spectral(document);
    expect(findings.filter((finding) => isError(finding.severity))).toEqual([]);
    // The linter really looks: two operations sharing an id is an error it reports.
    const broken = structuredClone(document);
    const listServices = broken.paths['/services']?.get;
    if (listServices) listServices.operationId = 'getResult';
    expect((await spectral(broken)).map((finding) => finding.code)).toContain('operation-operationId-unique');
  });
});

describe('AsyncAPI document', () => {
  let gateway: TestGateway;
  let text: string;

  beforeAll(async () => {
    gateway = await startTestGateway();
    text = await (await fetch(`${gateway.baseUrl}/asyncapi.json`)).text();
  });
  afterAll(() => gateway.close());

  it('is valid AsyncAPI 3 for @asyncapi/parser, describing both sockets on this host', async () => {
    const { document, diagnostics } = await new Parser().parse(text);
    expect(diagnostics.filter((diagnostic) => isError(diagnostic.severity))).toEqual([]);
    expect(document?.version()).toBe('3.0.0');
    const channels = document?.channels().all() ?? [];
    expect(
      channels.map((channel) => [
        channel.address(),
        channel
          .messages()
          .all()
          .map((message) => message.id()),
      ]),
    ).toEqual([
      ['/ws/results/{id}', ['jobState']],
      [
        '/ws/results',
        ['subscription', 'subscriptionStates', 'taskState', 'heartbeat', 'invalidFrame', 'unavailable'],
      ],
    ]);
    expect(
      document
        ?.servers()
        .all()
        .map((server) => [server.host(), server.protocol()]),
    ).toEqual([[new URL(gateway.baseUrl).host, 'ws']]);
    const operationsOfDocument = document?.operations().all() ?? [];
    expect(operationsOfDocument.map((operation) => [operation.id(), operation.action()])).toEqual([
      ['sendJobState', 'send'],
      ['receiveSubscription', 'receive'],
      ['sendTaskState', 'send'],
      ['sendHeartbeat', 'send'],
    ]);
  });

  it('documents ?partial=true, the heartbeat and the close codes', () => {
    const parsed = JSON.parse(text) as {
      channels: Record<string, { description: string; bindings: { ws: { query: { properties: object } } } }>;
    };
    expect(Object.keys(parsed.channels.jobResults?.bindings.ws.query.properties ?? {})).toEqual([
      'partial',
      'api_key',
    ]);
    for (const code of ['1000', '1001', '1011', '1013'])
      expect(parsed.channels.jobResults?.description).toContain(code);
    expect(parsed.channels.resultsFeed?.description).toContain('1009');
    expect(parsed.channels.resultsFeed?.description).toContain('{"status":"alive"}');
  });
});

describe('The documents tell the truth: real answers match their schemas', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;
  let openApi: OpenApiDocument;
  let asyncApiSchemas: Record<string, unknown>;

  beforeAll(async () => {
    simulator = await new LlmSimulator({ latencyMs: 15 }).start();
    gateway = await startWorkerGateway(simulator, { WS_POLLING_INTERVAL: '0.2' });
    openApi = (await (await fetch(`${gateway.baseUrl}/openapi.json`)).json()) as OpenApiDocument;
    const asyncApi = (await (await fetch(`${gateway.baseUrl}/asyncapi.json`)).json()) as {
      components: { schemas: Record<string, unknown> };
    };
    asyncApiSchemas = asyncApi.components.schemas;
  });
  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
  });

  /** Fetches and checks the body against the schema the document declares for its status. */
  async function expectDocumented(path: string, method: string, documentedPath: string, init?: RequestInit) {
    const response = await fetch(`${gateway.baseUrl}${path}`, { ...init, method: method.toUpperCase() });
    const body: unknown = await response.json();
    const declared = openApi.paths[documentedPath]?.[method]?.responses[String(response.status)];
    const reference = declared?.content?.['application/json']?.schema?.$ref ?? '';
    expect([method, path, response.status, reference]).toEqual([
      method,
      path,
      response.status,
      expect.any(String),
    ]);
    const schemas = asyncApiSchema(openApi.components.schemas) as Record<string, unknown>;
    expectValid(schemaValidator(schemas, reference.split('/').at(-1) ?? ''), body, `${method} ${path}`);
    return { status: response.status, body };
  }

  it('HTTP: services, generate, every state of /results, cancel, errors', async () => {
    await expectDocumented('/services', 'get', '/services');
    const form = new FormData();
    form.append('file', new Blob([readTranscript('ES2004a.txt')]));
    form.append('flavor', 'small');
    const queued = await expectDocumented(
      '/services/test/progressive/generate',
      'post',
      '/services/test/progressive/generate',
      {
        body: form,
      },
    );
    const jobId = (queued.body as { jobId: string }).jobId;
    const seen = new Set<number>();
    for (let status = 0; status !== 200;) {
      ({ status } = await expectDocumented(`/results/${jobId}`, 'get', '/results/{id}'));
      seen.add(status);
    }
    expect([...seen]).toEqual(expect.arrayContaining([202, 200]));
    await expectDocumented('/results/no-such-job', 'get', '/results/{id}');
    await expectDocumented(`/results/${jobId}`, 'delete', '/results/{id}');
    await expectDocumented('/results/no-such-job', 'delete', '/results/{id}');
    await expectDocumented('/services/test/map/generate', 'post', '/services/{route}/generate', {
      body: new FormData(),
    });

    const cancelled = await submit(gateway, 'test/progressive', readTranscript('ES2004a.txt'));
    await expectDocumented(`/results/${cancelled}`, 'delete', '/results/{id}');
    // A running job stops at its next batch boundary, then reads as error "cancelled" (500).
    let failed = await expectDocumented(`/results/${cancelled}`, 'get', '/results/{id}');
    while (failed.status === 202)
      failed = await expectDocumented(`/results/${cancelled}`, 'get', '/results/{id}');
    expect(failed).toMatchObject({ status: 500, body: { status: 'error', details: 'cancelled' } });
  });

  it('WebSocket: every message of both sockets matches its AsyncAPI schema', async () => {
    const jobId = await submit(gateway, 'test/progressive', readTranscript('ES2004a.txt'));
    const job = await TestSocket.open(wsUrl(gateway.baseUrl, `/ws/results/${jobId}?partial=true`));
    const feed = await TestSocket.open(wsUrl(gateway.baseUrl, '/ws/results'));
    feed.send([jobId, 'no-such-job']);
    await job.closed(60_000);
    await feed.waitUntil((messages) =>
      messages.some((message) => (message as { status?: string }).status === 'alive'),
    );
    feed.send('not json');
    await feed.waitUntil((messages) =>
      messages.some((message) => (message as { status?: string }).status === 'invalid'),
    );
    feed.close();

    const jobMessage = schemaValidator(asyncApiSchemas, 'JobMessage');
    for (const message of job.messages) expectValid(jobMessage, message, 'job socket');
    expect(
      job.messages.some((message) => typeof (message as { partial?: unknown }).partial === 'string'),
    ).toBe(true);

    const byKind = {
      SubscriptionStates: (message: unknown) => Array.isArray(message),
      Heartbeat: (message: unknown) => (message as { status?: string }).status === 'alive',
      InvalidFrame: (message: unknown) => (message as { status?: string }).status === 'invalid',
      TaskState: (message: unknown) => typeof (message as { task_id?: unknown }).task_id === 'string',
    };
    for (const message of feed.messages) {
      const kind = Object.entries(byKind).find(([, matches]) => matches(message))?.[0] ?? 'none';
      expectValid(schemaValidator(asyncApiSchemas, kind), message, `feed ${kind}`);
    }
    expect(feed.messages.filter(byKind.TaskState).length).toBeGreaterThan(0);
  });
});

describe('OpenAPI document with API_KEYS set', () => {
  let gateway: TestGateway;
  let document: OpenApiDocument;

  beforeAll(async () => {
    gateway = await startTestGateway({ env: { API_KEYS: 'key-one' } });
    document = (await (
      await fetch(`${gateway.baseUrl}/openapi.json`, { headers: { 'X-API-Key': 'key-one' } })
    ).json()) as OpenApiDocument;
  });
  afterAll(() => gateway.close());

  it('requires one of the keys, and says which operations answer without one, truthfully', async () => {
    expect(document.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }]);
    for (const { path, method, operation } of operations(document)) {
      const url = path.replace('{id}', 'some-id').replace('{route}', 'summarize/en');
      const response = await fetch(`${gateway.baseUrl}${url}`, { method: method.toUpperCase() });
      const isPublic = Array.isArray(operation.security) && operation.security.length === 0;
      expect([method, path, response.status === 401]).toEqual([method, path, !isPublic]);
    }
  });

  it('needs a key like every route but the health checks: a header, or ?api_key= (what ReDoc can send)', async () => {
    for (const path of ['/openapi.json', '/docs-json', '/docs-yaml', '/asyncapi.json', '/OpenAPI.json/']) {
      const refused = await fetch(`${gateway.baseUrl}${path}`);
      expect([path, refused.status, await refused.json()]).toEqual([
        path,
        401,
        { detail: 'Invalid or missing API key' },
      ]);
      const wrongKey = await fetch(`${gateway.baseUrl}${path}?api_key=key-two`);
      expect([path, wrongKey.status]).toEqual([path, 401]);
      const withHeader = await fetch(`${gateway.baseUrl}${path}`, {
        headers: { Authorization: 'Bearer key-one' },
      });
      expect([path, withHeader.status]).toEqual([path, 200]);
      expect([path, (await fetch(`${gateway.baseUrl}${path}?api_key=key-one`)).status]).toEqual([path, 200]);
    }
  });

  it('serves the Swagger UI and ReDoc pages without a key, holding no document: they ask for the key', async () => {
    const swaggerPage = await fetch(`${gateway.baseUrl}/docs`);
    expect(swaggerPage.status).toBe(200);
    const initScript = await (await fetch(`${gateway.baseUrl}/docs/swagger-ui-init.js`)).text();
    expect(initScript).toContain('"/docs-json"');
    expect(initScript).toContain('X-API-Key');
    expect(initScript).not.toContain('summarize/en');
    const bundle = await fetch(`${gateway.baseUrl}/docs/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    const redocForm = await (await fetch(`${gateway.baseUrl}/redoc`)).text();
    expect(redocForm).toContain('name="api_key"');
    expect(redocForm).not.toContain('<redoc');
    const redoc = await (await fetch(`${gateway.baseUrl}/redoc?api_key=key-one`)).text();
    expect(redoc).toContain('<redoc spec-url="/openapi.json?api_key=key-one">');
  });
});
