import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpAdapterHost } from '@nestjs/core';
import type { Application } from 'express';
import Redis from 'ioredis';
import { REPOSITORY_ROOT, startTestGateway, type TestGateway } from './support/gateway';

const transcript = readFileSync(join(__dirname, 'fixtures/transcripts/ES2004a.txt'));

function form(fields: Record<string, string | Blob>): FormData {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  return body;
}

const file = (content: string | Buffer) => new Blob([content], { type: 'text/plain' });

describe('HTTP API of the services (docs/api.md section 4)', () => {
  let gateway: TestGateway;
  let redis: Redis;

  beforeAll(async () => {
    gateway = await startTestGateway({ env: { MAX_UPLOAD_SIZE: '200kb' } });
    redis = new Redis(gateway.redisUrl);
  });

  afterAll(async () => {
    await gateway.close();
    redis.disconnect();
  });

  const post = (route: string, body: FormData | string, headers: Record<string, string> = {}) =>
    fetch(`${gateway.baseUrl}/services/${route}/generate`, { method: 'POST', body, headers });

  it('GET /healthcheck answers the JSON string "1"', async () => {
    const response = await fetch(`${gateway.baseUrl}/healthcheck`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(await response.text()).toBe('"1"');
  });

  it('GET /health/ready answers 200 while Redis is up', async () => {
    const response = await fetch(`${gateway.baseUrl}/health/ready`);
    expect(response.status).toBe(200);
  });

  it('GET /services lists every sample manifest as loaded, route always present', async () => {
    const response = await fetch(`${gateway.baseUrl}/services`);
    expect(response.status).toBe(200);
    const services = (await response.json()) as Record<string, unknown>[];
    expect(services.map((service) => service.route)).toEqual([
      'report/markdown',
      'summarize/en',
      'summarize-fr',
    ]);
    const english = services.find((service) => service.route === 'summarize/en');
    expect(english).toMatchObject({
      type: 'summary',
      fields: 2,
      name: 'summarize-en',
      description: {
        en: 'English summary of a meeting transcript',
        fr: "Résumé en anglais d'une transcription de réunion",
      },
    });
    const flavors = english?.flavor as Record<string, unknown>[];
    expect(flavors.map((flavor) => flavor.name)).toEqual(['llama', 'mistral']);
    expect(Object.keys(flavors[0] ?? {}).sort()).toEqual(
      [
        'consolidateSummary',
        'createNewTurnAfter',
        'maxGenerationLength',
        'maxNewTurns',
        'modelName',
        'name',
        'reduceSummary',
        'summaryTurns',
        'temperature',
        'tokenizerClass',
        'top_p',
        'totalContextLength',
        'type',
      ].sort(),
    );
  });

  it('publishes the same list to Redis key services_config, as v1', async () => {
    const published = JSON.parse((await redis.get('services_config')) ?? 'null') as unknown;
    const served = await (await fetch(`${gateway.baseUrl}/services`)).json();
    expect(published).toEqual(served);
  });

  it.each([
    ['no file', () => post('summarize/en', form({ flavor: 'llama' })), 400, 'Missing content'],
    [
      'an empty file',
      () => post('summarize/en', form({ file: file(''), flavor: 'llama' })),
      400,
      'Missing content',
    ],
    ['no flavor', () => post('summarize/en', form({ file: file(transcript) })), 400, /flavor/],
    [
      'an unknown route',
      () => post('summarize/de', form({ file: file(transcript), flavor: 'llama' })),
      404,
      'Service not found',
    ],
    [
      'an unknown flavor',
      () => post('summarize/en', form({ file: file(transcript), flavor: 'gpt-9' })),
      404,
      'Flavor not found',
    ],
    [
      'temperature 2.5',
      () => post('summarize/en', form({ file: file(transcript), flavor: 'llama', temperature: '2.5' })),
      400,
      /temperature/,
    ],
    [
      'top_p 0',
      () => post('summarize/en', form({ file: file(transcript), flavor: 'llama', top_p: '0' })),
      400,
      /top_p/,
    ],
    [
      'top_p 1.2',
      () => post('summarize/en', form({ file: file(transcript), flavor: 'llama', top_p: '1.2' })),
      400,
      /top_p/,
    ],
    [
      'bytes that are not UTF-8',
      () => post('summarize/en', form({ file: file(Buffer.from([0x41, 0xc3, 0x28])), flavor: 'llama' })),
      400,
      /UTF-8/,
    ],
    [
      'a file over MAX_UPLOAD_SIZE',
      () => post('summarize/en', form({ file: file(Buffer.alloc(210_000, 'a')), flavor: 'llama' })),
      413,
      /too large/i,
    ],
    [
      'a JSON body over MAX_UPLOAD_SIZE',
      () =>
        post('summarize/en', JSON.stringify({ content: 'a'.repeat(210_000), flavor: 'llama' }), {
          'content-type': 'application/json',
        }),
      413,
      /MAX_UPLOAD_SIZE/,
    ],
    [
      'malformed JSON',
      () => post('summarize/en', '{"content": ', { 'content-type': 'application/json' }),
      400,
      /JSON/,
    ],
    [
      'JSON without content',
      () => post('summarize/en', JSON.stringify({ flavor: 'llama' }), { 'content-type': 'application/json' }),
      400,
      'Missing content',
    ],
    [
      'JSON with an unknown flavor',
      () =>
        post('summarize-fr', JSON.stringify({ content: 'A : b', flavor: 'x' }), {
          'content-type': 'application/json',
        }),
      404,
      'Flavor not found',
    ],
    [
      'JSON top_p out of range',
      () =>
        post('summarize-fr', JSON.stringify({ content: 'A : b', flavor: 'llama', top_p: 3 }), {
          'content-type': 'application/json',
        }),
      400,
      /top_p/,
    ],
  ])('generate with %s answers %i', async (_case, send, status, detail) => {
    const keysBefore = await redis.dbsize();
    const response = await send();
    expect(response.status).toBe(status);
    const body = (await response.json()) as { detail: string };
    if (typeof detail === 'string') expect(body.detail).toBe(detail);
    else expect(body.detail).toMatch(detail);
    expect(await redis.dbsize()).toBe(keysBefore);
  });

  it('queues a valid request as v1 did, in both forms, storing the flavor with its overrides', async () => {
    const multipart = await post(
      'summarize/en',
      form({ file: file(transcript), flavor: 'llama', temperature: '0.3', top_p: '0.9' }),
    );
    expect(multipart.status).toBe(200);
    const queued = (await multipart.json()) as { message: string; jobId: string };
    expect(queued).toEqual({
      message: 'Request successfully queued',
      jobId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
    });
    const stored = JSON.parse((await redis.hget(`bull:summarization:${queued.jobId}`, 'data')) ?? '{}') as {
      service: object;
      flavor: object;
      text: string;
    };
    expect(stored.service).toEqual({ route: 'summarize/en', promptName: 'summarize-en', fields: 2 });
    expect(stored.flavor).toMatchObject({
      name: 'llama',
      modelName: 'meta-llama-31-8b-it',
      temperature: 0.3,
      top_p: 0.9,
    });
    // The text is kept apart from the job (which every status read parses), in its own key.
    expect(stored.text).toBe('');
    expect(await redis.get(`llm-gateway:text:${queued.jobId}`)).toBe(transcript.toString('utf8'));
    // Answered 200 once accepted: a worker (none here, ROLE=api) would run it.
    expect(await redis.get(`llm-gateway:admission:${queued.jobId}`)).toBe('accepted');

    const status = await fetch(`${gateway.baseUrl}/results/${queued.jobId}`);
    expect(status.status).toBe(202);
    expect(await status.json()).toEqual({ status: 'queued', message: 'Task is in queue' });

    const json = await post(
      'report/markdown',
      JSON.stringify({ content: 'Alice : hello', flavor: 'mistral' }),
      {
        'content-type': 'application/json',
      },
    );
    expect(json.status).toBe(200);
  });

  it('concurrent submissions, sent to Redis together, are each stored with their own text and accepted', async () => {
    const texts = Array.from({ length: 40 }, (_, index) => `Alice : request ${index}\nBob : answer ${index}`);
    const answers = await Promise.all(
      texts.map((content) =>
        post('summarize/en', JSON.stringify({ content, flavor: 'llama' }), {
          'content-type': 'application/json',
        }),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(texts.map(() => 200));
    const jobIds = await Promise.all(
      answers.map(async (answer) => ((await answer.json()) as { jobId: string }).jobId),
    );
    expect(new Set(jobIds).size).toBe(texts.length);
    for (const [index, jobId] of jobIds.entries()) {
      expect(await redis.get(`llm-gateway:text:${jobId}`)).toBe(texts[index]);
      expect(await redis.get(`llm-gateway:admission:${jobId}`)).toBe('accepted');
      expect(await redis.hget(`bull:summarization:${jobId}`, 'name')).toBe('summarize');
    }
  });

  it('answers 404 for an id that never existed', async () => {
    const response = await fetch(`${gateway.baseUrl}/results/00000000-0000-0000-0000-000000000000`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      detail: 'Unknown task status',
      status: 'unknown',
      message: 'Task does not exist',
    });
  });

  it('an unknown path answers 404 in the same {detail} shape', async () => {
    const response = await fetch(`${gateway.baseUrl}/nowhere`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ detail: 'Not Found' });
  });

  it("answers CORS as v1's Starlette middleware: origin echoed, credentials allowed, preflight 200 cached 600 s", async () => {
    const preflight = await fetch(`${gateway.baseUrl}/services/summarize/en/generate`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, x-custom',
      },
    });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    expect(preflight.headers.get('access-control-max-age')).toBe('600');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization, x-custom');
    const simple = await fetch(`${gateway.baseUrl}/services`, {
      headers: { origin: 'https://other.example' },
    });
    expect(simple.headers.get('access-control-allow-origin')).toBe('https://other.example');
    expect(simple.headers.get('access-control-allow-credentials')).toBe('true');
    expect(simple.headers.get('vary')).toMatch(/origin/i);
  });

  it("sends no ETag with the API's JSON answers, as v1 sent none (Express would hash each body); the page's files keep their validators", async () => {
    const submission = await fetch(`${gateway.baseUrl}/services/summarize/en/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'Alice : hello\nBob : good morning', flavor: 'llama' }),
    });
    expect(submission.status).toBe(200);
    expect(submission.headers.get('etag')).toBeNull();
    expect((await fetch(`${gateway.baseUrl}/services`)).headers.get('etag')).toBeNull();
    const page = await fetch(`${gateway.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('last-modified')).not.toBeNull();
    const script = /src="\.?(\/assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${gateway.baseUrl}${script ?? ''}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('etag')).not.toBeNull();
  });

  it('tries the API routes before the documents and the page: a submission walks past none of their handlers', () => {
    const express = gateway.get(HttpAdapterHost).httpAdapter.getInstance<Application>();
    const handlers = (express.router as unknown as { stack: { route?: { path: string } }[] }).stack;
    const position = (path: string) => handlers.findIndex((handler) => handler.route?.path === path);
    const generate = position('/services/*route/generate');
    expect(generate).toBeGreaterThan(-1);
    for (const path of ['/docs', '/openapi.json', '/redoc', '/'])
      expect(position(path)).toBeGreaterThan(generate);
  });

  it('adds no CORS header to a request without Origin (a server or CLI calling), as Starlette did, only Vary: Origin', async () => {
    const response = await fetch(`${gateway.baseUrl}/services`);
    expect(response.status).toBe(200);
    const corsHeaders = [...response.headers.keys()].filter((name) => name.startsWith('access-control-'));
    expect(corsHeaders).toEqual([]);
    expect(response.headers.get('vary')).toMatch(/origin/i);
  });

  it("serves the OpenAPI document at v1's /openapi.json and ReDoc at /redoc, its script from this server", async () => {
    const document = (await (await fetch(`${gateway.baseUrl}/openapi.json`)).json()) as { paths: object };
    expect(Object.keys(document.paths)).toContain('/services/summarize/en/generate');
    const page = await fetch(`${gateway.baseUrl}/redoc`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<redoc spec-url="/openapi.json">');
    const scriptPath = /<script src="([^"]+)">/.exec(html)?.[1] ?? '';
    expect(scriptPath.startsWith('/')).toBe(true);
    const script = await fetch(`${gateway.baseUrl}${scriptPath}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await script.text()).length).toBeGreaterThan(100_000);
  });

  it('serves the Swagger UI and the JSON document with one path per service', async () => {
    const ui = await fetch(`${gateway.baseUrl}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger-ui');
    const document = (await (await fetch(`${gateway.baseUrl}/docs-json`)).json()) as {
      paths: Record<string, { post?: { requestBody?: unknown; responses?: Record<string, unknown> } }>;
    };
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/healthcheck',
        '/services',
        '/services/summarize/en/generate',
        '/services/summarize-fr/generate',
        '/services/report/markdown/generate',
      ]),
    );
    expect(Object.keys(document.paths).some((path) => path.includes('*'))).toBe(false);
    const english = document.paths['/services/summarize/en/generate']?.post;
    expect(JSON.stringify(english?.requestBody)).toContain('"enum":["llama","mistral"]');
    expect(Object.keys(english?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '400', '404', '413', '503']),
    );
  });

  it('the sample services are the repository files, prompts included', () => {
    expect(readFileSync(join(REPOSITORY_ROOT, 'prompts/summarize-en.txt'), 'utf8')).toContain('{}');
  });
});

describe('CORS_ORIGINS and SWAGGER_URL', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ env: { CORS_ORIGINS: 'https://app.example', SWAGGER_URL: '' } });
  });

  afterAll(() => gateway.close());

  it('echoes only a listed origin', async () => {
    const listed = await fetch(`${gateway.baseUrl}/services`, { headers: { origin: 'https://app.example' } });
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const other = await fetch(`${gateway.baseUrl}/services`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('an empty SWAGGER_URL turns the Swagger UI off; /openapi.json stays, as FastAPI kept it', async () => {
    for (const path of ['/docs', '/docs-json', '/-json']) {
      expect([path, (await fetch(`${gateway.baseUrl}${path}`)).status]).toEqual([path, 404]);
    }
    expect((await fetch(`${gateway.baseUrl}/openapi.json`)).status).toBe(200);
  });
});

describe('API keys', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ env: { API_KEYS: 'key-one,key-two' } });
  });
  afterAll(() => gateway.close());

  it.each([
    [{}, 401],
    [{ authorization: 'Bearer wrong' }, 401],
    [{ authorization: 'Bearer key-two' }, 200],
    [{ 'x-api-key': 'key-one' }, 200],
  ])('GET /services with headers %p answers %i', async (headers, status) => {
    const response = await fetch(`${gateway.baseUrl}/services`, { headers });
    expect(response.status).toBe(status);
    if (status === 401) {
      const body = await response.text();
      expect(JSON.parse(body)).toEqual({ detail: 'Invalid or missing API key' });
      expect(body).not.toContain('key-one');
    }
  });

  it('leaves the health check open', async () => {
    expect((await fetch(`${gateway.baseUrl}/healthcheck`)).status).toBe(200);
  });
});
