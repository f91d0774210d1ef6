import { LlmSimulator, simulatedAnswer } from './support/llm-simulator';

describe('simulatedAnswer', () => {
  it.each([
    [
      'Summarize:\nAlice : one two three\nBob : four',
      'Alice : one two three (3 words)\nBob : four (1 words)',
    ],
    [
      'So far:\nAlice : one two three (3 words)\nNew:\nBob : a b c d e f g h i j',
      'Bob : a b c d e f g h (10 words)',
    ],
    ['Merge:\nA : x (1 words)\nB : y (1 words)\nC : z (1 words)', 'A : x (1 words)\nC : z (1 words)'],
    ['no turn at all', ''],
  ])('%p', (prompt, expected) => {
    expect(simulatedAnswer(prompt)).toBe(expected);
  });
});

describe('LlmSimulator over HTTP, as vLLM', () => {
  let simulator: LlmSimulator;
  const chat = (body: Record<string, unknown>, signal?: AbortSignal) =>
    fetch(`${simulator.baseUrl}/chat/completions`, {
      method: 'POST',
      signal,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Alice : hello there' }], ...body }),
    });

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
  });
  afterAll(() => simulator.stop());
  beforeEach(() => simulator.reset());

  it('lists its models with max_model_len', async () => {
    const body = (await (await fetch(`${simulator.baseUrl}/models`)).json()) as {
      data: { id: string; max_model_len: number }[];
    };
    expect(body.data).toContainEqual(expect.objectContaining({ id: 'small-model', max_model_len: 4096 }));
  });

  it('answers a chat completion deterministically, with usage, and logs it', async () => {
    const response = await chat({ model: 'small-model', max_tokens: 100, temperature: 0.3, top_p: 0.9 });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      choices: { message: { content: string } }[];
      usage: { prompt_tokens: number };
    };
    expect(body.choices[0]?.message.content).toBe('Alice : hello there (2 words)');
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    expect(simulator.requests[0]).toMatchObject({
      model: 'small-model',
      maxTokens: 100,
      temperature: 0.3,
      topP: 0.9,
      status: 200,
    });
  });

  it('rejects prompt + max_tokens over the context with vLLM’s 400 and message', async () => {
    const response = await chat({ model: 'small-model', max_tokens: 5000 });
    expect(response.status).toBe(400);
    const body = (await response.json()) as {
      error: { message: string; type: string; param: null; code: number };
    };
    expect(body.error).toMatchObject({ type: 'BadRequestError', param: null, code: 400 });
    expect(body.error.message).toMatch(
      /^This model's maximum context length is 4096 tokens\. However, you requested \d+ tokens/,
    );
  });

  it('answers 404 for an unknown model', async () => {
    expect((await chat({ model: 'nope' })).status).toBe(404);
  });

  it('serves injected faults in order: 429 with Retry-After, 500, context length, then normal', async () => {
    simulator.injectFaults(
      { kind: 'rate_limit', retryAfterSeconds: 2 },
      { kind: 'server_error' },
      { kind: 'context_length' },
    );
    const limited = await chat({ model: 'small-model' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect((await chat({ model: 'small-model' })).status).toBe(500);
    expect((await chat({ model: 'small-model' })).status).toBe(400);
    expect((await chat({ model: 'small-model' })).status).toBe(200);
  });

  it('hangs when asked to, until the client gives up', async () => {
    simulator.injectFaults({ kind: 'hang' });
    const outcome = await chat({ model: 'small-model' }, AbortSignal.timeout(300)).then(
      () => 'answered',
      (error: unknown) => (error as { name?: string }).name,
    );
    expect(outcome).toBe('TimeoutError');
    expect(simulator.requests[0]?.status).toBe(-1);
  });

  it('applies its latency and tracks requests in flight', async () => {
    simulator.latencyMs = 100;
    await Promise.all([
      chat({ model: 'small-model' }),
      chat({ model: 'small-model' }),
      chat({ model: 'small-model' }),
    ]);
    simulator.latencyMs = 0;
    expect(simulator.maxInFlight).toBe(3);
  });
});
