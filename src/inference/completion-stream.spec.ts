import { createParser } from 'eventsource-parser';
import { CompletionStreamReader } from './completion-stream';

/** What a reader made of a whole stream. */
interface Reading {
  content: string;
  finishReason: string | null;
  promptTokens: number | undefined;
  completionTokens: number | undefined;
  isDone: boolean;
  failure: string | undefined;
  chunkCount: number;
}

function readWith(pieces: readonly string[]): Reading {
  let chunkCount = 0;
  const reader = new CompletionStreamReader(() => (chunkCount += 1));
  for (const piece of pieces) reader.feed(piece);
  return {
    content: reader.contentParts.join(''),
    finishReason: reader.finishReason,
    promptTokens: reader.promptTokens,
    completionTokens: reader.completionTokens,
    isDone: reader.isDone,
    failure: reader.failure?.message,
    chunkCount,
  };
}

/** The reading the shapes must never change: every chunk through JSON.parse. */
function readByParsingEveryChunk(pieces: readonly string[]): Reading {
  const reading: Reading = {
    content: '',
    finishReason: null,
    promptTokens: undefined,
    completionTokens: undefined,
    isDone: false,
    failure: undefined,
    chunkCount: 0,
  };
  const parser = createParser({
    onEvent: ({ data }) => {
      if (reading.isDone || reading.failure !== undefined) return;
      if (data.startsWith('[DONE]')) {
        reading.isDone = true;
        return;
      }
      let chunk: unknown;
      try {
        chunk = JSON.parse(data);
      } catch {
        reading.failure = `a chunk is not JSON: ${data.slice(0, 200)}`;
        return;
      }
      if (typeof chunk !== 'object' || chunk === null) {
        reading.failure = `a chunk is not an object: ${data.slice(0, 200)}`;
        return;
      }
      const { error, choices, usage } = chunk as {
        error?: { message?: string };
        choices?: { index?: number; delta?: { content?: string }; finish_reason?: string | null }[];
        usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
      };
      if (error) {
        reading.failure = error.message ?? JSON.stringify(error);
        return;
      }
      reading.chunkCount += 1;
      const choice = choices?.find((candidate) => candidate.index === 0);
      if (choice?.delta?.content) reading.content += choice.delta.content;
      reading.finishReason = choice?.finish_reason ?? reading.finishReason;
      reading.promptTokens = usage?.prompt_tokens ?? reading.promptTokens;
      reading.completionTokens = usage?.completion_tokens ?? reading.completionTokens;
    },
  });
  for (const piece of pieces) parser.feed(piece);
  return reading;
}

// vLLM's chunks, as the LLM simulator sends them.
const header = { id: 'chatcmpl-7', object: 'chat.completion.chunk', created: 1764000000, model: 'm' };
const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ ...header, choices, ...extra });
const delta = (content: string) =>
  chunk([{ index: 0, delta: { content }, logprobs: null, finish_reason: null }]);
const roleChunk = chunk([
  { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
]);
const finishChunk = (reason = 'stop') =>
  chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: reason }]);
const usageChunk = chunk([], { usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 } });
const events = (...data: string[]) => data.map((item) => `data: ${item}\n\n`).join('');
const vllmStream = (words: readonly string[]) =>
  events(roleChunk, ...words.map(delta), finishChunk(), usageChunk, '[DONE]');

const shapedPrefix = delta('\u0000').split('"\\u0000"')[0] ?? '';
const shapedSuffix = delta('\u0000').split('"\\u0000"')[1] ?? '';

const cases: [string, string, Partial<Reading>][] = [
  [
    'a vLLM stream',
    vllmStream(['Alice ', ': hello ', 'there\n', 'Bob ', ': hi']),
    {
      content: 'Alice : hello there\nBob : hi',
      finishReason: 'stop',
      promptTokens: 12,
      completionTokens: 5,
      isDone: true,
      failure: undefined,
      chunkCount: 8,
    },
  ],
  [
    'contents JSON escapes: quotes, backslashes, controls, non-ASCII, separators',
    vllmStream([
      'say ',
      '"hi" ',
      'back\\slash ',
      'tab\there ',
      'é ',
      '😀 ',
      '\u2028 ',
      '/ ',
      '{"x":1} ',
      'a',
      'b',
    ]),
    { content: 'say "hi" back\\slash tab\there é 😀 \u2028 / {"x":1} ab', chunkCount: 14 },
  ],
  [
    'a content escaped otherwise than JSON.stringify does',
    events(
      roleChunk,
      delta('one '),
      delta('two '),
      `${shapedPrefix}"\\u00e9\\/\\u0041"${shapedSuffix}`,
      finishChunk(),
    ),
    { content: 'one two é/A', finishReason: 'stop', chunkCount: 5 },
  ],
  [
    'a string in place of the content that is more than one string: the usage it sets is read',
    events(
      roleChunk,
      delta('one '),
      delta('two '),
      `${shapedPrefix}"x"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":7},"c":[{"d":{"e":"y"${shapedSuffix}`,
      finishChunk(),
    ),
    { content: 'one two x', promptTokens: 7, finishReason: 'stop', chunkCount: 5 },
  ],
  [
    'a raw control character in a content: not JSON',
    events(
      roleChunk,
      delta('one '),
      delta('two '),
      `${shapedPrefix}"bad\tchunk"${shapedSuffix}`,
      delta('more'),
    ),
    { content: 'one two ', failure: `a chunk is not JSON: ${shapedPrefix}"bad\tchunk"${shapedSuffix}` },
  ],
  [
    'a truncated string in place of the content: not JSON',
    events(roleChunk, delta('one '), delta('two '), `${shapedPrefix}"\\"${shapedSuffix}`),
    { content: 'one two ', failure: `a chunk is not JSON: ${shapedPrefix}"\\"${shapedSuffix}` },
  ],
  [
    'an error event part-way (vLLM), and nothing read after it',
    events(
      roleChunk,
      delta('one '),
      delta('two '),
      JSON.stringify({ error: { message: 'engine failed' } }),
      delta('x'),
    ),
    { content: 'one two ', failure: 'engine failed', isDone: false, chunkCount: 3 },
  ],
  [
    'a chunk that is no object',
    events(roleChunk, delta('one '), delta('two '), '"two"', delta('x')),
    { content: 'one two ', failure: 'a chunk is not an object: "two"' },
  ],
  [
    'nothing read after [DONE]',
    events(roleChunk, delta('one '), delta('two '), '[DONE]', delta('three'), finishChunk()),
    { content: 'one two ', finishReason: null, isDone: true, chunkCount: 3 },
  ],
  [
    'the content "a", the probe’s first choice',
    vllmStream(['a', 'a', 'b', 'a']),
    { content: 'aaba', chunkCount: 7 },
  ],
  [
    'a content that is also the model’s name',
    vllmStream(['m', 'm', 'chatcmpl-7', 'content', 'index']),
    { content: 'mmchatcmpl-7contentindex' },
  ],
  [
    'a content whose JSON string is also another field’s, after it',
    events(
      ...[
        ['fp', 'fp'],
        ['fp', 'zz'],
        ['fp', 'fp'],
        ['fp', 'zz'],
      ].map(([content, fingerprint]) =>
        chunk([{ index: 0, delta: { content }, finish_reason: null }], { system_fingerprint: fingerprint }),
      ),
    ),
    { content: 'fpfpfpfp', chunkCount: 4 },
  ],
  [
    'an id per chunk (never the same text around the content)',
    events(
      ...['one ', 'two ', 'three ', 'four ', 'five'].map((word, index) =>
        JSON.stringify({
          id: `c-${index}`,
          choices: [{ index: 0, delta: { content: word }, finish_reason: null }],
        }),
      ),
      finishChunk(),
    ),
    { content: 'one two three four five', finishReason: 'stop', chunkCount: 6 },
  ],
  [
    'the usage in every chunk (vLLM continuous_usage_stats)',
    events(
      ...['one ', 'two ', 'three'].map((word, index) =>
        chunk([{ index: 0, delta: { content: word }, finish_reason: null }], {
          usage: { prompt_tokens: 3, completion_tokens: index + 1 },
        }),
      ),
      finishChunk('length'),
    ),
    { content: 'one two three', promptTokens: 3, completionTokens: 3, finishReason: 'length', chunkCount: 4 },
  ],
  [
    'two choices: the first one’s content only',
    events(
      ...['one ', 'two ', 'three'].flatMap((word) => [
        chunk([{ index: 0, delta: { content: word }, finish_reason: null }]),
        chunk([{ index: 1, delta: { content: word.toUpperCase() }, finish_reason: null }]),
        chunk([
          { index: 1, delta: { content: 'x' }, finish_reason: null },
          { index: 0, delta: { content: '!' }, finish_reason: null },
        ]),
      ]),
    ),
    { content: 'one !two !three!', chunkCount: 9 },
  ],
  [
    'CRLF line ends, comments, event and id fields, a byte order mark',
    `\uFEFF: ping\r\n\r\nevent: message\r\nid: 1\r\ndata: ${roleChunk}\r\n\r\ndata: ${delta('one ')}\r\n\r\n: ping\n\ndata: ${delta('two')}\r\rdata: ${finishChunk()}\n\n`,
    { content: 'one two', finishReason: 'stop', chunkCount: 4 },
  ],
  [
    'a chunk split over two data lines',
    `data: ${roleChunk}\n\ndata: ${delta('one ')}\n\ndata: ${shapedPrefix}\ndata: "two"${shapedSuffix}\n\ndata: ${delta('three')}\n\n`,
    { content: 'one twothree', chunkCount: 4 },
  ],
  [
    'a stream that ends without a finish reason',
    events(roleChunk, delta('one '), delta('two')),
    { content: 'one two', finishReason: null, isDone: false, chunkCount: 3 },
  ],
];

describe('CompletionStreamReader', () => {
  it.each(cases)('reads %s', (_, stream, expected) => {
    const reading = readWith([stream]);
    expect(reading).toMatchObject(expected);
    expect(reading).toEqual(readByParsingEveryChunk([stream]));
  });

  it.each(cases)('reads %s as JSON.parse of every chunk does, wherever the reads cut it', (_, stream) => {
    const expected = readByParsingEveryChunk([stream]);
    for (let cut = 0; cut <= stream.length; cut += 1) {
      expect(readWith([stream.slice(0, cut), stream.slice(cut)])).toEqual(expected);
    }
    const sizes = [1, 2, 7, 64];
    for (const size of sizes) {
      const pieces = Array.from({ length: Math.ceil(stream.length / size) }, (_unused, index) =>
        stream.slice(index * size, (index + 1) * size),
      );
      expect(readWith(pieces)).toEqual(expected);
    }
  });

  it('parses only the first chunks of a stream whose chunks differ only by their content', () => {
    const words = Array.from({ length: 200 }, (_, index) => `word${index} `);
    const parse = jest.spyOn(JSON, 'parse');
    try {
      const reading = readWith([vllmStream(words)]);
      expect(reading.content).toBe(words.join(''));
      // The role chunk and the first content chunk, each with its probe; the finish and usage chunks.
      expect(parse.mock.calls.length).toBeLessThanOrEqual(6);
    } finally {
      parse.mockRestore();
    }
  });

  it('goes back to parsing every chunk after shapes that read nothing', () => {
    const words = Array.from({ length: 50 }, (_, index) => `word${index} `);
    const stream = events(
      ...words.map((word, index) =>
        JSON.stringify({
          id: `c-${index}`,
          choices: [{ index: 0, delta: { content: word }, finish_reason: null }],
        }),
      ),
    );
    const parse = jest.spyOn(JSON, 'parse');
    try {
      expect(readWith([stream]).content).toBe(words.join(''));
      // Each chunk once, and three probes.
      expect(parse.mock.calls.length).toBe(words.length + 3);
    } finally {
      parse.mockRestore();
    }
  });
});
