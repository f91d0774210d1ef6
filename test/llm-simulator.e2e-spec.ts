import { answerPieces, LlmSimulator, simulatedAnswer } from './support/llm-simulator';

interface StreamedChunk {
  object?: string;
  choices?: { index: number; delta: { role?: string; content?: string }; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  error?: { message: string; type: string; code: number };
}

/** The `data:` payloads of an SSE body, `[DONE]` kept as a string. */
function dataLines(body: string): (StreamedChunk | '[DONE]')[] {
  return body
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length))
    .map((data) => (data === '[DONE]' ? data : (JSON.parse(data) as StreamedChunk)));
}

/** Reads a streamed body until `count` SSE events have arrived, and returns them. */
async function readEvents(response: Response, count: number): Promise<string[]> {
  if (!response.body) throw new Error('no body');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (text.split('\n\n').length - 1 < count) {
    const { value, done } = (await reader.read()) as { value?: Uint8Array; done: boolean };
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return text.split('\n\n').slice(0, count);
}

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 500 && !condition(); attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

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

describe('answerPieces', () => {
  it.each([
    ['', []],
    ['A : b', ['A ', ': ', 'b']],
    ['A : b c\nD : e', ['A ', ': ', 'b ', 'c\n', 'D ', ': ', 'e']],
  ])('%p splits per word and joins back', (answer, pieces) => {
    expect(answerPieces(answer)).toEqual(pieces);
    expect(answerPieces(answer).join('')).toBe(answer);
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
      isStream: false,
      chunksSent: 0,
      streamEnd: undefined,
    });
  });

  it('streams like vLLM: role chunk, one chunk per word, finish reason, usage chunk, [DONE]', async () => {
    const prompt = 'Alice : one two three four\nBob : five six';
    const response = await fetch(`${simulator.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({
        model: 'small-model',
        messages: [{ role: 'user', content: prompt }],
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const lines = dataLines(await response.text());
    const answer = simulatedAnswer(prompt);
    const pieces = answerPieces(answer);
    expect(pieces.length).toBeGreaterThan(5);
    expect(lines).toHaveLength(1 + pieces.length + 1 + 1 + 1);
    const [first, ...rest] = lines as StreamedChunk[];
    expect(first).toMatchObject({
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
    });
    const words = rest.slice(0, pieces.length);
    expect(words.map((chunk) => chunk.choices?.[0]?.delta.content)).toEqual(pieces);
    expect(words.every((chunk) => chunk.choices?.[0]?.finish_reason === null)).toBe(true);
    expect(rest[pieces.length]).toMatchObject({ choices: [{ delta: {}, finish_reason: 'stop' }] });
    const entry = simulator.requests[0];
    expect(rest[pieces.length + 1]).toEqual(
      expect.objectContaining({
        choices: [],
        usage: expect.objectContaining({ prompt_tokens: entry?.promptTokens }) as unknown,
      }),
    );
    expect(lines.at(-1)).toBe('[DONE]');
    expect(entry).toMatchObject({
      isStream: true,
      includeUsage: true,
      authorization: 'Bearer sk-test',
      status: 200,
      answer,
      chunksSent: pieces.length + 3,
      streamEnd: 'done',
    });
  });

  it('sends no usage chunk unless stream_options.include_usage is set', async () => {
    const lines = dataLines(await (await chat({ model: 'small-model', stream: true })).text());
    expect(lines.at(-2)).toMatchObject({ choices: [{ finish_reason: 'stop' }] });
    expect(lines.some((line) => line !== '[DONE]' && line.usage !== undefined)).toBe(false);
    expect(simulator.requests[0]).toMatchObject({ includeUsage: false, streamEnd: 'done' });
  });

  it('sends the status line at once and the first chunk after firstTokenMs', async () => {
    simulator.firstTokenMs = 60_000;
    const controller = new AbortController();
    try {
      const response = await chat({ model: 'small-model', stream: true }, controller.signal);
      expect(response.status).toBe(200);
      expect(simulator.requests[0]).toMatchObject({ status: 200, chunksSent: 0 });
    } finally {
      controller.abort();
      simulator.firstTokenMs = 0;
    }
    await waitUntil(() => simulator.requests[0]?.streamEnd !== undefined);
    expect(simulator.requests[0]?.streamEnd).toBe('client_gone');
  });

  it('waits tokenMs before each word after the first', async () => {
    simulator.tokenMs = 60_000;
    const controller = new AbortController();
    try {
      const response = await chat({ model: 'small-model', stream: true }, controller.signal);
      const [roleChunk, firstWord] = await readEvents(response, 2);
      expect(roleChunk).toContain('"role":"assistant"');
      expect(firstWord).toContain('"content":"Alice "');
      expect(simulator.requests[0]?.chunksSent).toBe(2);
    } finally {
      controller.abort();
      simulator.tokenMs = 0;
    }
    await waitUntil(() => simulator.requests[0]?.streamEnd !== undefined);
    expect(simulator.requests[0]).toMatchObject({ chunksSent: 2, streamEnd: 'client_gone' });
  });

  it('stalls a stream after N chunks, with the connection open', async () => {
    simulator.injectFaults({ kind: 'stall', afterChunks: 2 });
    const controller = new AbortController();
    try {
      const response = await chat({ model: 'small-model', stream: true }, controller.signal);
      expect(await readEvents(response, 2)).toHaveLength(2);
      expect(simulator.requests[0]).toMatchObject({ chunksSent: 2, streamEnd: 'stalled' });
      expect(simulator.inFlight).toBe(1);
    } finally {
      controller.abort();
    }
    await waitUntil(() => simulator.inFlight === 0);
  });

  it('drops the connection of a stream after N chunks', async () => {
    simulator.injectFaults({ kind: 'disconnect', afterChunks: 3 });
    const response = await chat({ model: 'small-model', stream: true });
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow('terminated');
    expect(simulator.requests[0]).toMatchObject({ chunksSent: 3, streamEnd: 'disconnected' });
  });

  it('sends an error event part-way as vLLM does, then [DONE]', async () => {
    simulator.injectFaults({ kind: 'stream_error', afterChunks: 2 });
    const response = await chat({ model: 'small-model', stream: true });
    expect(response.status).toBe(200);
    const lines = dataLines(await response.text());
    expect(lines).toHaveLength(4);
    expect(lines[2]).toEqual({
      error: {
        message: 'Simulated engine failure mid-stream',
        type: 'BadRequestError',
        param: null,
        code: 400,
      },
    });
    expect(lines[3]).toBe('[DONE]');
    expect(simulator.requests[0]).toMatchObject({ chunksSent: 2, streamEnd: 'error_event' });
  });

  it('ends a stream cleanly after N chunks, with no finish reason and no [DONE]', async () => {
    simulator.injectFaults({ kind: 'end_early', afterChunks: 3 });
    const lines = dataLines(await (await chat({ model: 'small-model', stream: true })).text());
    expect(lines).toHaveLength(3);
    expect(lines.some((line) => line === '[DONE]' || line.choices?.[0]?.finish_reason)).toBe(false);
    expect(simulator.requests[0]).toMatchObject({ chunksSent: 3, streamEnd: 'ended_early' });
  });

  it('answers stream faults sensibly when the request does not stream', async () => {
    simulator.injectFaults(
      { kind: 'stream_error', afterChunks: 1 },
      { kind: 'disconnect', afterChunks: 1 },
      { kind: 'end_early', afterChunks: 1 },
      { kind: 'stall', afterChunks: 1 },
    );
    expect((await chat({ model: 'small-model' })).status).toBe(500);
    await expect(chat({ model: 'small-model' })).rejects.toThrow('fetch failed');
    await expect(chat({ model: 'small-model' })).rejects.toThrow('fetch failed');
    const outcome = await chat({ model: 'small-model' }, AbortSignal.timeout(300)).then(
      () => 'answered',
      (error: unknown) => (error as { name?: string }).name,
    );
    expect(outcome).toBe('TimeoutError');
    expect(simulator.requests.map((entry) => entry.status)).toEqual([500, -1, -1, -1]);
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

  it('fails one model alone after N requests, the others answering, until reset', async () => {
    simulator.failModel('small-model', { kind: 'server_error' }, 2);
    simulator.injectFaults({ kind: 'rate_limit', retryAfterSeconds: 1 });
    const statuses = async (model: string, count: number) => {
      const seen: number[] = [];
      for (let call = 0; call < count; call += 1) seen.push((await chat({ model })).status);
      return seen;
    };
    expect(await statuses('small-model', 2)).toEqual([429, 200]);
    expect(await statuses('small-model', 3)).toEqual([500, 500, 500]);
    expect(await statuses('gpt-4o-mini', 1)).toEqual([200]);
    simulator.reset();
    expect(await statuses('small-model', 1)).toEqual([200]);
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

  it('can make its latency grow with the prompt and the answer (token-proportional mode)', async () => {
    const proportional = new LlmSimulator({
      latencyMs: 5,
      latencyPerPromptTokenMs: 0.5,
      latencyPerCompletionTokenMs: 0.25,
    });
    expect(proportional.promptLatencyMs(100)).toBe(55);
    expect(proportional.promptLatencyMs(1000)).toBe(505);
    expect(proportional.completionLatencyMs(40)).toBe(10);
    expect(simulator.promptLatencyMs(1000)).toBe(simulator.latencyMs);
    simulator.latencyPerPromptTokenMs = 0.01;
    simulator.latencyPerCompletionTokenMs = 0.01;
    await chat({ model: 'small-model' });
    simulator.latencyPerPromptTokenMs = 0;
    simulator.latencyPerCompletionTokenMs = 0;
    expect(simulator.requests.at(-1)?.status).toBe(200);
  });
});
