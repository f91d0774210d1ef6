import { getEventListeners } from 'node:events';
import Redis from 'ioredis';
import type { AppConfig } from '../src/config/app-config';
import { parseAppConfig } from '../src/config/parse-app-config.util';
import { INFERENCE_SEMAPHORE_KEY, InferenceClient } from '../src/inference/inference.client';
import { requiredTestRedisUrl } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';

function configFor(simulator: LlmSimulator, env: Record<string, string> = {}): AppConfig {
  return parseAppConfig({
    env: {
      OPENAI_API_BASE: simulator.baseUrl,
      SERVICES_BROKER: requiredTestRedisUrl(),
      MAX_RETRIES: '4',
      MAX_RETRY_DELAY: '0.05',
      TIMEOUT: '1',
      ...env,
    },
    cwd: '/tmp',
    configYaml: undefined,
    configFileLabel: 'config.yaml',
  });
}

const request = (prompt = 'Alice : hello there') => ({
  model: 'small-model',
  prompt,
  maxTokens: 100,
  temperature: 0.2,
  topP: 0.9,
});

describe('InferenceClient against the LLM simulator and a real Redis', () => {
  let simulator: LlmSimulator;
  const clients: InferenceClient[] = [];
  const newClient = (env: Record<string, string> = {}) => {
    const client = new InferenceClient(configFor(simulator, env));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
  });
  beforeEach(async () => {
    simulator.reset();
    simulator.latencyMs = 0;
    const redis = new Redis(requiredTestRedisUrl());
    await redis.del(INFERENCE_SEMAPHORE_KEY);
    redis.disconnect();
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.onModuleDestroy()));
    await simulator.stop();
  });

  it('sends one user message with model, max_tokens, temperature and top_p', async () => {
    const completion = await newClient().complete(request());
    expect(completion).toMatchObject({ content: 'Alice : hello there (2 words)', attempts: 1 });
    expect(simulator.requests[0]).toMatchObject({
      model: 'small-model',
      maxTokens: 100,
      temperature: 0.2,
      topP: 0.9,
    });
  });

  it('retries a 429, honouring Retry-After (capped by MAX_RETRY_DELAY), and 500s, then succeeds', async () => {
    simulator.injectFaults(
      { kind: 'rate_limit', retryAfterSeconds: 1 },
      { kind: 'server_error' },
      { kind: 'server_error' },
    );
    const completion = await newClient().complete(request());
    expect(completion.attempts).toBe(4);
    expect(simulator.requests.map((entry) => entry.status)).toEqual([429, 500, 500, 200]);
  });

  it('aborts a call that hangs longer than TIMEOUT and retries it', async () => {
    simulator.injectFaults({ kind: 'hang' });
    const completion = await newClient({ TIMEOUT: '0.3' }).complete(request());
    expect(completion.attempts).toBe(2);
    expect(simulator.requests.map((entry) => entry.status)).toEqual([-1, 200]);
  });

  it('reports a context-length rejection at once, as a typed error', async () => {
    simulator.injectFaults({ kind: 'context_length' });
    await expect(newClient().complete(request())).rejects.toMatchObject({
      code: 'CONTEXT_LENGTH',
      message: expect.stringMatching(/maximum context length is 4096 tokens/) as unknown,
    });
    expect(simulator.requests).toHaveLength(1);
  });

  it('never retries another 4xx', async () => {
    await expect(newClient().complete({ ...request(), model: 'no-such-model' })).rejects.toMatchObject({
      code: 'REQUEST_REJECTED',
      message: 'LLM API rejected the request (404): The model `no-such-model` does not exist.',
    });
    expect(simulator.requests).toHaveLength(1);
  });

  it('fails with a readable reason once MAX_RETRIES attempts have failed', async () => {
    simulator.injectFaults(...Array.from({ length: 4 }, () => ({ kind: 'server_error' as const })));
    await expect(newClient().complete(request())).rejects.toMatchObject({
      code: 'RETRIES_EXHAUSTED',
      message: 'LLM call failed after 4 attempts: 500 Internal server error',
    });
    expect(simulator.requests).toHaveLength(4);
  });

  it('leaves no listener on a long-lived signal (a worker passes one to every call)', async () => {
    const workerLifetime = new AbortController();
    const client = newClient();
    for (let call = 0; call < 20; call += 1)
      await client.complete(request(`A : call ${call}`), workerLifetime.signal);
    expect(getEventListeners(workerLifetime.signal, 'abort')).toHaveLength(0);
  });

  it('stops when cancelled', async () => {
    simulator.latencyMs = 2_000;
    const controller = new AbortController();
    const pending = newClient({ TIMEOUT: '10' }).complete(request(), controller.signal);
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('keeps MAX_CONCURRENT_INFERENCES across two clients sharing Redis, and really overlaps', async () => {
    simulator.latencyMs = 100;
    const env = { MAX_CONCURRENT_INFERENCES: '3' };
    const first = newClient(env);
    const second = newClient(env);
    await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        (index % 2 === 0 ? first : second).complete(request(`A : call ${index}`)),
      ),
    );
    expect(simulator.requests).toHaveLength(12);
    expect(simulator.maxInFlight).toBe(3);
  });
});
