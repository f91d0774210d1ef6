import { getEventListeners } from 'node:events';
import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { Semaphore } from 'redis-semaphore';
import type { AppConfig } from '../src/config/app-config';
import { parseAppConfig } from '../src/config/parse-app-config.util';
import { INFERENCE_SEMAPHORE_REDIS_KEY, InferenceClient } from '../src/inference/inference.client';
import { InferenceError } from '../src/inference/inference.error';
import { requiredTestRedisUrl, waitFor } from './support/gateway';
import { answerPieces, LlmSimulator, simulatedAnswer } from './support/llm-simulator';

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

/** The clients holding an LLM permit in Redis now. */
function permitHolders(redis: Redis): Promise<string[]> {
  return redis.zrange(INFERENCE_SEMAPHORE_REDIS_KEY, 0, -1);
}

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
    simulator.firstTokenMs = 0;
    simulator.tokenMs = 0;
    const redis = new Redis(requiredTestRedisUrl());
    await redis.del(INFERENCE_SEMAPHORE_REDIS_KEY);
    redis.disconnect();
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.onModuleDestroy()));
    await simulator.stop();
  });

  it('streams one user message with model, max_tokens, temperature and top_p, usage included', async () => {
    const completion = await newClient().complete(request());
    expect(completion).toMatchObject({ content: 'Alice : hello there (2 words)', attempts: 1 });
    expect(simulator.requests[0]).toMatchObject({
      model: 'small-model',
      maxTokens: 100,
      temperature: 0.2,
      topP: 0.9,
      isStream: true,
      includeUsage: true,
      authorization: 'Bearer EMPTY',
      streamEnd: 'done',
    });
  });

  it('never cuts a generation that streams for longer than TIMEOUT', async () => {
    const prompt = [
      'Alice : one two three four five six seven eight nine',
      'Bob : ten eleven twelve thirteen fourteen fifteen sixteen seventeen',
      'Carol : eighteen nineteen twenty twenty-one twenty-two twenty-three twenty-four twenty-five',
    ].join('\n');
    const answer = simulatedAnswer(prompt);
    simulator.tokenMs = 100;
    // The plan: more words than TIMEOUT lets through at tokenMs each, so only a per-gap timeout passes.
    const timeoutSeconds = 1;
    expect((answerPieces(answer).length - 1) * simulator.tokenMs).toBeGreaterThan(3 * timeoutSeconds * 1000);
    const completion = await newClient({ TIMEOUT: String(timeoutSeconds) }).complete(request(prompt));
    expect({ ...completion, completionTokens: typeof completion.completionTokens }).toEqual({
      content: answer,
      promptTokens: simulator.requests[0]?.promptTokens,
      completionTokens: 'number', // the server's usage
      attempts: 1,
    });
    expect(simulator.requests).toHaveLength(1);
    expect(simulator.requests[0]).toMatchObject({
      streamEnd: 'done',
      chunksSent: answerPieces(answer).length + 3,
    });
  });

  it('reads the usage from the last chunk and warns when the server counted fewer prompt tokens', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const client = newClient();
      const counted = await client.complete(request());
      const serverCount = simulator.requests[0]?.promptTokens ?? 0;
      expect(serverCount).toBeGreaterThan(0);
      expect(counted.promptTokens).toBe(serverCount);
      expect(warn).not.toHaveBeenCalled();
      await client.complete({ ...request(), expectedPromptTokens: serverCount * 2 });
      expect(warn).toHaveBeenCalledWith(
        `The LLM API counted ${serverCount} prompt tokens where we counted ${serverCount * 2}: it may have truncated the prompt (Ollama does so silently; raise its num_ctx)`,
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('sends `Bearer` and no key when OPENAI_API_TOKEN is empty (the SDK alone refuses an empty key)', async () => {
    const completion = await newClient({ OPENAI_API_TOKEN: '' }).complete(request());
    expect(completion.content).toBe('Alice : hello there (2 words)');
    // v1 sent `Bearer `; fetch trims header values, so `Bearer` is what a server receives.
    expect(simulator.requests[0]?.authorization).toBe('Bearer');
  });

  it('sends the configured key as a bearer token', async () => {
    await newClient({ OPENAI_API_TOKEN: 'sk-test-key' }).complete(request());
    expect(simulator.requests[0]?.authorization).toBe('Bearer sk-test-key');
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
    expect(completion).toMatchObject({ content: 'Alice : hello there (2 words)', attempts: 2 });
    expect(simulator.requests.map((entry) => entry.status)).toEqual([-1, 200]);
  });

  it('aborts a stream whose first token does not come within TIMEOUT, and retries it', async () => {
    simulator.injectFaults({ kind: 'stall', afterChunks: 0 });
    const completion = await newClient({ TIMEOUT: '0.3' }).complete(request());
    expect(completion).toMatchObject({ content: 'Alice : hello there (2 words)', attempts: 2 });
    expect(simulator.requests.map((entry) => [entry.status, entry.chunksSent, entry.streamEnd])).toEqual([
      [200, 0, 'stalled'],
      [200, answerPieces('Alice : hello there (2 words)').length + 3, 'done'],
    ]);
  });

  it('fails with a timeout reason when no attempt gets a first token', async () => {
    simulator.injectFaults(
      { kind: 'hang' },
      { kind: 'stall', afterChunks: 0 },
      { kind: 'hang' },
      { kind: 'stall', afterChunks: 0 },
    );
    await expect(newClient({ TIMEOUT: '0.3' }).complete(request())).rejects.toMatchObject({
      code: 'RETRIES_EXHAUSTED',
      message: 'LLM call failed after 4 attempts: no first token within TIMEOUT (0.3 s)',
    });
    expect(simulator.requests).toHaveLength(4);
  });

  it('aborts a stream that stalls part-way and retries it from the start, keeping no partial answer', async () => {
    simulator.injectFaults({ kind: 'stall', afterChunks: 3 });
    const completion = await newClient({ TIMEOUT: '0.3' }).complete(request());
    expect(completion).toMatchObject({ content: 'Alice : hello there (2 words)', attempts: 2 });
    expect(simulator.requests.map((entry) => [entry.chunksSent, entry.streamEnd])).toEqual([
      [3, 'stalled'],
      [answerPieces('Alice : hello there (2 words)').length + 3, 'done'],
    ]);
  });

  it.each([
    [
      'stalls',
      { kind: 'stall', afterChunks: 3 } as const,
      /^LLM call failed after 4 attempts: no token for TIMEOUT \(0\.3 s\) after 3 chunks$/,
    ],
    [
      'drops its connection',
      { kind: 'disconnect', afterChunks: 2 } as const,
      // How many of the chunks sent before the drop reach the client is up to its socket.
      /^LLM call failed after 4 attempts: the stream broke after [0-2] chunks: terminated \(other side closed\)$/,
    ],
    [
      // vLLM's error event carries code 400 although nothing was wrong with the request.
      'sends an error event',
      { kind: 'stream_error', afterChunks: 2 } as const,
      /^LLM call failed after 4 attempts: the stream broke after 2 chunks: Simulated engine failure mid-stream$/,
    ],
    [
      'ends without a finish reason',
      { kind: 'end_early', afterChunks: 3 } as const,
      /^LLM call failed after 4 attempts: the stream ended after 3 chunks without a finish reason$/,
    ],
  ])('retries a stream that %s part-way, and names it when every attempt does', async (_, fault, reason) => {
    simulator.injectFaults(fault);
    const completion = await newClient({ TIMEOUT: '0.3' }).complete(request());
    expect(completion).toMatchObject({ content: 'Alice : hello there (2 words)', attempts: 2 });
    simulator.reset();
    simulator.injectFaults(fault, fault, fault, fault);
    const failure = await newClient({ TIMEOUT: '0.3' })
      .complete(request())
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(InferenceError);
    expect(failure).toMatchObject({ code: 'RETRIES_EXHAUSTED' });
    expect((failure as InferenceError).message).toMatch(reason);
    expect(simulator.requests).toHaveLength(4);
  });

  it('reports a context-length rejection at once, as a typed error', async () => {
    simulator.injectFaults({ kind: 'context_length' });
    await expect(newClient().complete(request())).rejects.toMatchObject({
      code: 'CONTEXT_LENGTH',
      message: expect.stringMatching(/maximum context length is 4096 tokens/) as unknown,
    });
    expect(simulator.requests).toHaveLength(1);
  });

  it('never retries another 4xx; a 404 (model not served) is MODEL_NOT_FOUND, which a flavor may fail over on', async () => {
    await expect(newClient().complete({ ...request(), model: 'no-such-model' })).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
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

  it('stops a streaming call when cancelled, and closes its connection', async () => {
    simulator.tokenMs = 5_000;
    const controller = new AbortController();
    const pending = newClient({ TIMEOUT: '10' }).complete(request(), controller.signal);
    for (let poll = 0; poll < 500 && (simulator.requests[0]?.chunksSent ?? 0) < 2; poll += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
    for (let poll = 0; poll < 500 && simulator.inFlight > 0; poll += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(simulator.requests).toHaveLength(1);
    expect(simulator.requests[0]).toMatchObject({ chunksSent: 2, streamEnd: 'client_gone' });
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

  it('reservePermit: the call sent next takes the permit reserved instead of acquiring one', async () => {
    const client = newClient({ MAX_CONCURRENT_INFERENCES: '2' });
    const acquire = jest.spyOn(Semaphore.prototype, 'acquire');
    try {
      client.reservePermit();
      await client.complete(request());
      expect(acquire).not.toHaveBeenCalled();
    } finally {
      acquire.mockRestore();
    }
  });

  it('reservePermit: a permit no call takes goes back to Redis; none is reserved when all are taken', async () => {
    simulator.latencyMs = 200;
    const redis = new Redis(requiredTestRedisUrl());
    try {
      const holders = () => permitHolders(redis);
      const waitForHolders = async (count: number) => {
        await waitFor(async () => (await holders()).length === count, 2_000, `${count} permit holder(s)`);
        return holders();
      };
      const client = newClient({ MAX_CONCURRENT_INFERENCES: '1' });
      const reserve = jest.spyOn(Semaphore.prototype, 'tryAcquire');
      const release = jest.spyOn(Semaphore.prototype, 'release');
      // The releases of the permit this client reserves: the spies see every client's (the earlier
      // tests' clients give theirs back on timers of their own).
      const releasesOfReserved = () =>
        (release.mock.contexts as Semaphore[]).filter((permit) => permit === reserve.mock.contexts[0]);
      try {
        client.reservePermit();
        expect(reserve).toHaveBeenCalledTimes(1);
        await waitFor(async () => releasesOfReserved().length > 0, 2_000, 'the unused permit to be released');
        expect(releasesOfReserved()).toHaveLength(1);
        expect(await waitForHolders(0)).toEqual([]);
      } finally {
        reserve.mockRestore();
        release.mockRestore();
      }
      // The only permit is held by another client's call: one attempt, no wait, no permit.
      const other = newClient({ MAX_CONCURRENT_INFERENCES: '1' });
      const call = other.complete(request());
      expect(await waitForHolders(1)).toHaveLength(1);
      const tryAcquire = jest.spyOn(Semaphore.prototype, 'tryAcquire');
      try {
        client.reservePermit();
        expect(await tryAcquire.mock.results[0]?.value).toBe(false);
      } finally {
        tryAcquire.mockRestore();
      }
      await call;
      expect(await waitForHolders(0)).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('hands a finished call’s permit to the next call sent at once, then gives it back to Redis', async () => {
    simulator.latencyMs = 100;
    const redis = new Redis(requiredTestRedisUrl());
    try {
      const client = newClient({ MAX_CONCURRENT_INFERENCES: '2' });
      const holders = () => permitHolders(redis);
      /** A call, and the permits held in Redis half-way through it. */
      const callSeeingHolders = async (prompt: string) => {
        const call = client.complete(request(prompt));
        await new Promise((resolve) => setTimeout(resolve, 50));
        const seen = await holders();
        await call;
        return seen;
      };
      const duringFirst = await callSeeingHolders('A : first');
      const duringSecond = await callSeeingHolders('A : second');
      // The same permit: the second call took it from the first instead of from Redis.
      expect(duringFirst).toHaveLength(1);
      expect(duringSecond).toEqual(duringFirst);
      // Then nobody asks for it: it goes back.
      const deadline = Date.now() + 2_000;
      while ((await holders()).length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(await holders()).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });
});
