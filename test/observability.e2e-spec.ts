import { createLogger } from '../src/logging';
import { startTestGateway, type TestGateway, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import { readTranscript, startWorkerGateway, submit, submitAndWait } from './support/pipeline-fixtures';
import { startRedisServer, type RedisServerHandle } from './support/redis-server';

/** A generous client-side bound: the assertion is that an answer arrives, not how fast. */
const ANSWER_WITHIN_MS = 8_000;

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

describe('readiness names each dependency, and answers 503 only for what the role needs', () => {
  let simulator: LlmSimulator;
  let redis: RedisServerHandle;
  const gateways: TestGateway[] = [];

  beforeEach(async () => {
    simulator = await new LlmSimulator().start();
    redis = await startRedisServer();
  });
  afterEach(async () => {
    if (redis.process.exitCode === null && redis.process.signalCode === null) redis.process.kill('SIGCONT');
    // Each test starts from a Redis that answers (stopping with Redis away is
    // test/stop-frozen-redis.e2e-spec.ts's subject).
    if (redis.process.exitCode !== null || redis.process.signalCode !== null) {
      redis = await startRedisServer([], Number(new URL(redis.url).port));
    }
    await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
    await simulator.stop().catch(() => undefined);
    await redis.stop();
  });

  async function start(role: 'api' | 'worker'): Promise<TestGateway> {
    const gateway = await startTestGateway({
      seedSamples: false,
      redisUrl: redis.url,
      env: { ROLE: role, OPENAI_API_BASE: simulator.baseUrl, OPENAI_API_TOKEN: 'sk-health-probe' },
    });
    gateways.push(gateway);
    return gateway;
  }

  it.each(['api', 'worker'] as const)('%s: 200 with Redis and the LLM up', async (role) => {
    const gateway = await start(role);
    expect(await getJson(`${gateway.baseUrl}/health/ready`)).toEqual({
      status: 200,
      body: { redis: 'ok', llm: 'ok' },
    });
  });

  it('the LLM probe sends the key as the inference client does', async () => {
    const gateway = await start('worker');
    await getJson(`${gateway.baseUrl}/health/ready`);
    expect(simulator.modelListAuthorizations).toContain('Bearer sk-health-probe');
  });

  it('api: 200 with the LLM down (jobs can still be queued); worker: 503', async () => {
    const api = await start('api');
    const worker = await start('worker');
    await simulator.stop();
    expect(await getJson(`${api.baseUrl}/health/ready`)).toEqual({
      status: 200,
      body: { redis: 'ok', llm: 'down' },
    });
    expect(await getJson(`${worker.baseUrl}/health/ready`)).toEqual({
      status: 503,
      body: { detail: 'The LLM API is unreachable', redis: 'ok', llm: 'down' },
    });
  });

  it.each(['api', 'worker'] as const)('%s: 503 with Redis down', async (role) => {
    const gateway = await start(role);
    await redis.stop();
    const { status, body } = await getJson(`${gateway.baseUrl}/health/ready`);
    expect(status).toBe(503);
    expect(body).toMatchObject({ redis: 'down', llm: 'ok' });
  });

  // Before the fix, /health/ready never answered while Redis was frozen: PING had no bound.
  it.each(['api', 'worker'] as const)(
    '%s: every health endpoint answers while Redis is frozen (SIGSTOP)',
    async (role) => {
      const gateway = await start(role);
      expect((await getJson(`${gateway.baseUrl}/health/ready`)).status).toBe(200);
      process.kill(redis.process.pid ?? 0, 'SIGSTOP');
      const [ready, live, healthcheck, metrics] = await Promise.all([
        getJson(`${gateway.baseUrl}/health/ready`),
        getJson(`${gateway.baseUrl}/health/live`),
        getJson(`${gateway.baseUrl}/healthcheck`),
        fetch(`${gateway.baseUrl}/metrics`, { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) }),
      ]);
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ redis: 'down' });
      expect(live).toEqual({ status: 200, body: { status: 'ok' } });
      expect(healthcheck).toEqual({ status: 200, body: '1' });
      expect(metrics.status).toBe(200);
      await metrics.text();
      process.kill(redis.process.pid ?? 0, 'SIGCONT');
    },
  );
});

interface LoggedLine {
  level: string;
  context: string;
  fields: Record<string, unknown>;
}

/** The structured lines a gateway logged (a line with fields arrives as an object). */
function structuredLines(gateway: TestGateway): LoggedLine[] {
  return gateway.logger.lines.flatMap((line) => {
    if (!line.message.startsWith('{')) return [];
    return [
      {
        level: line.level,
        context: line.context,
        fields: JSON.parse(line.message) as Record<string, unknown>,
      },
    ];
  });
}

describe('metrics and logs an operator can follow', () => {
  let simulator: LlmSimulator;
  const gateways: TestGateway[] = [];

  beforeEach(async () => {
    simulator = await new LlmSimulator().start();
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
    await simulator.stop();
  });

  it('/metrics after a real job: counters moved, labels as documented, no job id anywhere', async () => {
    const gateway = await startWorkerGateway(simulator);
    gateways.push(gateway);
    const jobId = await submitAndWait(gateway, 'test/progressive', readTranscript('ES2004a.txt'));
    await fetch(`${gateway.baseUrl}/results/${jobId}`);
    // Documents and the page are served outside Nest's router: counted all the same.
    for (const path of ['/openapi.json', '/docs', '/'])
      await (await fetch(`${gateway.baseUrl}${path}`)).text();
    const response = await fetch(`${gateway.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const labels = 'service="test/progressive",flavor="small"';
    expect(text).toContain(`llm_gateway_jobs_accepted_total{${labels}} 1`);
    expect(text).toContain(`llm_gateway_jobs_completed_total{${labels}} 1`);
    expect(text).toContain(`llm_gateway_job_duration_seconds_count{${labels},outcome="completed"} 1`);
    expect(text).toMatch(/llm_gateway_llm_requests_total\{model="small-model",outcome="ok"\} [1-9]\d*/);
    expect(text).toMatch(
      /llm_gateway_llm_request_duration_seconds_count\{model="small-model",outcome="ok"\} [1-9]/,
    );
    expect(text).toMatch(/llm_gateway_llm_prompt_tokens_total\{model="small-model",source="gateway"\} [1-9]/);
    expect(text).toMatch(/llm_gateway_llm_prompt_tokens_total\{model="small-model",source="server"\} [1-9]/);
    expect(text).toMatch(/llm_gateway_llm_completion_tokens_total\{model="small-model"\} [1-9]/);
    expect(text).toMatch(/llm_gateway_llm_permit_wait_seconds_count [1-9]/);
    expect(text).toContain('llm_gateway_queue_jobs{state="completed"} 1');
    expect(text).toContain('llm_gateway_queue_jobs{state="waiting"} 0');
    expect(text).toContain('llm_gateway_websockets_open 0');
    expect(text).toMatch(
      /llm_gateway_http_requests_total\{method="GET",route="\/results\/:id",status="200"\} [1-9]/,
    );
    expect(text).toMatch(
      /llm_gateway_http_requests_total\{method="POST",route="[^"]*generate[^"]*",status="200"\} 1/,
    );
    for (const route of ['/openapi.json', '/docs', '/']) {
      expect(text).toContain(`llm_gateway_http_requests_total{method="GET",route="${route}",status="200"} 1`);
    }
    expect(text).toContain('llm_gateway_process_cpu_user_seconds_total');
    expect(text).toContain('llm_gateway_nodejs_eventloop_lag_seconds');
    expect(text).not.toContain(jobId);
    // Every metric is ours: nothing unprefixed.
    const names = text
      .split('\n')
      .filter((line) => line.startsWith('# TYPE '))
      .map((line) => line.split(' ')[2]);
    expect(names.filter((name) => !name?.startsWith('llm_gateway_'))).toEqual([]);
  });

  it('a worker-only process serves /metrics, without queue depth (the API processes report it)', async () => {
    const api = await startWorkerGateway(simulator, { ROLE: 'api' });
    const worker = await startTestGateway({
      seedSamples: false,
      redisUrl: api.redisUrl,
      env: { ROLE: 'worker', OPENAI_API_BASE: simulator.baseUrl },
    });
    gateways.push(worker, api);
    const text = await (await fetch(`${worker.baseUrl}/metrics`)).text();
    expect(text).toContain('llm_gateway_jobs_completed_total');
    expect(text).not.toMatch(/^llm_gateway_queue_jobs\{/m);
    expect(await (await fetch(`${api.baseUrl}/metrics`)).text()).toMatch(
      /^llm_gateway_queue_jobs\{state="waiting"\} 0$/m,
    );
  });

  it('logs one line per transition with jobId, service and flavor; a cancellation is no warning', async () => {
    const gateway = await startWorkerGateway(simulator);
    gateways.push(gateway);
    const jobId = await submitAndWait(gateway, 'test/progressive', readTranscript('ES2004a.txt'));
    const about = (id: string) => structuredLines(gateway).filter((line) => line.fields.jobId === id);
    const messages = about(jobId).map((line) => line.fields.message);
    expect(messages).toEqual([
      `Job ${jobId} queued`,
      `Job ${jobId} started`,
      expect.stringMatching(
        new RegExp(
          `^Job ${jobId} completed in \\d+ ms \\(\\d+ LLM calls, \\d+ prompt and \\d+ completion tokens\\)$`,
        ),
      ),
    ]);
    // Each line names the queue (its broker without credentials): two gateways never mix jobs up.
    const queue = `summarization on redis://${new URL(gateway.redisUrl).host}${new URL(gateway.redisUrl).pathname}`;
    for (const line of about(jobId)) {
      expect(line.level).toBe('log');
      expect(line.fields).toMatchObject({ service: 'test/progressive', flavor: 'small', queue });
    }
    const completed = about(jobId).at(-1)?.fields ?? {};
    for (const field of ['durationMs', 'llmCalls', 'promptTokens', 'completionTokens']) {
      expect(typeof completed[field]).toBe('number');
    }
    expect(completed.llmCalls).toBeGreaterThan(0);

    simulator.latencyMs = 200;
    const cancelled = await submit(gateway, 'test/progressive', readTranscript('ES2004a.txt'));
    await waitFor(
      async () => simulator.requests.length > 0 && about(cancelled).length >= 2,
      10_000,
      'the job to start',
    );
    await fetch(`${gateway.baseUrl}/results/${cancelled}`, { method: 'DELETE' });
    await waitFor(
      async () => about(cancelled).some((line) => line.fields.message === `Job ${cancelled} cancelled`),
      15_000,
      'the cancellation',
    );
    expect(about(cancelled).filter((line) => line.level !== 'log')).toEqual([]);
  });

  it('retry warnings name the job and the LLM host, never the key', async () => {
    const gateway = await startWorkerGateway(simulator, { OPENAI_API_TOKEN: 'sk-secret-never-logged' });
    gateways.push(gateway);
    simulator.injectFaults({ kind: 'server_error' });
    const jobId = await submitAndWait(gateway, 'test/progressive', 'Alice : hello there');
    const [retry] = structuredLines(gateway).filter((line) => line.level === 'warn');
    expect(retry?.fields).toMatchObject({
      jobId,
      llmHost: new URL(simulator.baseUrl).host,
      model: 'small-model',
    });
    expect(JSON.stringify(gateway.logger.lines)).not.toContain('sk-secret-never-logged');
    const text = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
    expect(text).toMatch(/llm_gateway_llm_requests_total\{model="small-model",outcome="5xx"\} 1/);
    expect(text).toMatch(/llm_gateway_llm_retries_total\{model="small-model"\} 1/);
  });

  it("answers X-Request-Id (the client's, or a new one) and puts it on the request line", async () => {
    const gateway = await startWorkerGateway(simulator);
    gateways.push(gateway);
    const echoed = await fetch(`${gateway.baseUrl}/services`, {
      headers: { 'X-Request-Id': 'trace-abc-123' },
    });
    expect(echoed.headers.get('x-request-id')).toBe('trace-abc-123');
    const fresh = await fetch(`${gateway.baseUrl}/results/nope`);
    const freshId = fresh.headers.get('x-request-id') ?? '';
    expect(freshId).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(
      async () => structuredLines(gateway).some((line) => line.fields.requestId === freshId),
      5_000,
      'the request line',
    );
    const lines = structuredLines(gateway).filter((line) => line.context === 'HTTP');
    expect(lines.find((line) => line.fields.requestId === 'trace-abc-123')?.fields).toMatchObject({
      method: 'GET',
      route: '/services',
      status: 200,
    });
    expect(lines.find((line) => line.fields.requestId === freshId)?.fields).toMatchObject({
      route: '/results/:id',
      status: 404,
    });
  });
});

describe('LOG_FORMAT', () => {
  function captured(
    format: 'json' | 'pretty',
    write: (logger: ReturnType<typeof createLogger>) => void,
  ): string {
    const chunks: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(String(chunk));
      return true;
    });
    try {
      write(createLogger({ serviceName: 'llm-gateway', logLevel: 'log', logFormat: format }));
    } finally {
      spy.mockRestore();
    }
    return chunks.join('');
  }

  it('json: one object per line, the fields of a line as top-level keys', () => {
    const output = captured('json', (logger) =>
      logger.log({ message: 'Job 7 queued', jobId: '7', service: 'summarize/en', flavor: 'llama' }, 'Jobs'),
    );
    expect(JSON.parse(output.trim())).toMatchObject({
      level: 'log',
      context: 'Jobs',
      message: 'Job 7 queued',
      jobId: '7',
      service: 'summarize/en',
      flavor: 'llama',
    });
  });

  it('pretty: the message, then its fields as key=value on the same line', () => {
    const output = captured('pretty', (logger) =>
      logger.log({ message: 'Job 7 queued', jobId: '7', service: 'summarize/en' }, 'Jobs'),
    );
    expect(output.trim().split('\n')).toHaveLength(1);
    expect(output).toContain('[Jobs] Job 7 queued (jobId=7 service=summarize/en)');
  });
});

describe('the queue dashboard at /admin/queues', () => {
  let gateway: TestGateway | undefined;
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
  });

  it('needs a key when API_KEYS is set: a header, or ?api_key= once (then a cookie for its own requests)', async () => {
    gateway = await startTestGateway({ seedSamples: false, env: { API_KEYS: 'ops-key' } });
    const page = `${gateway.baseUrl}/admin/queues`;
    const refused = await fetch(page);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ detail: 'Invalid or missing API key' });
    expect((await fetch(`${page}?api_key=wrong`)).status).toBe(401);
    expect((await fetch(`${page}/api/queues`)).status).toBe(401);

    const withHeader = await fetch(`${page}/api/queues`, { headers: { 'X-API-Key': 'ops-key' } });
    expect(withHeader.status).toBe(200);
    expect(JSON.stringify(await withHeader.json())).toContain('summarization');

    const fromLink = await fetch(`${page}?api_key=ops-key`);
    expect(fromLink.status).toBe(200);
    expect(await fromLink.text()).toMatch(/<html/i);
    const cookie = fromLink.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\/admin\/queues/i);
    const pageRequest = await fetch(`${page}/api/queues`, {
      headers: { Cookie: cookie.split(';')[0] ?? '' },
    });
    expect(pageRequest.status).toBe(200);
  });

  it('is open without API_KEYS, and absent from a worker', async () => {
    gateway = await startTestGateway({ seedSamples: false });
    expect((await fetch(`${gateway.baseUrl}/admin/queues/api/queues`)).status).toBe(200);
    const worker = await startTestGateway({ seedSamples: false, env: { ROLE: 'worker' } });
    try {
      expect((await fetch(`${worker.baseUrl}/admin/queues`)).status).toBe(404);
    } finally {
      await worker.close();
    }
  });
});
