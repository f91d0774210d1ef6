import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { isolatedRedisUrl, REPOSITORY_ROOT, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import { startApiProcess, stopProcess } from './support/processes';
import { TestSocket, wsUrl } from './support/ws-client';

/**
 * Malformed and hostile requests against the built gateway (ROLE=all: a job that slipped through
 * would reach the LLM simulator): each gets its 4xx and `{"detail"}`, and nothing reaches the LLM
 * or the queue (issue 13).
 */
const KEY = 'hostile-test-key';
const ROUTE = '/services/summarize/en/generate';
const withKey = { 'X-API-Key': KEY };

let gateway: { child: ChildProcess; baseUrl: string };
let simulator: LlmSimulator;
let redis: Redis;
let root: string;

beforeAll(async () => {
  simulator = await new LlmSimulator().start();
  const redisUrl = await isolatedRedisUrl();
  redis = new Redis(redisUrl);
  root = mkdtempSync(join(tmpdir(), 'hostile-'));
  cpSync(join(REPOSITORY_ROOT, '.hydra-conf'), join(root, '.hydra-conf'), { recursive: true });
  cpSync(join(REPOSITORY_ROOT, 'prompts'), join(root, 'prompts'), { recursive: true });
  gateway = await startApiProcess(root, {
    ROLE: 'all',
    HOST: '127.0.0.1',
    SERVICES_BROKER: redisUrl,
    OPENAI_API_BASE: simulator.baseUrl,
    API_KEYS: KEY,
    MAX_UPLOAD_SIZE: '1MB',
    HTTP_HEADERS_TIMEOUT: '2',
    HTTP_REQUEST_TIMEOUT: '4',
  });
});

afterAll(async () => {
  await stopProcess(gateway.child);
  redis.disconnect();
  await simulator.stop();
  rmSync(root, { recursive: true, force: true });
});

function json(body: string | Buffer, contentType = 'application/json'): RequestInit {
  return { method: 'POST', headers: { ...withKey, 'Content-Type': contentType }, body };
}

/** A multipart body built byte by byte: `file` as a file part (Buffer) or as a text field (string). */
function multipart(fields: Record<string, string | Buffer>, fileAsText?: Buffer): RequestInit {
  const boundary = 'hostileboundary';
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    const header =
      typeof value === 'string'
        ? `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`
        : `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="t.txt"\r\nContent-Type: text/plain\r\n\r\n`;
    parts.push(Buffer.from(header), Buffer.from(value), Buffer.from('\r\n'));
  }
  if (fileAsText) {
    parts.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\n`),
      fileAsText,
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    method: 'POST',
    headers: { ...withKey, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    body: Buffer.concat(parts),
  };
}

const text = Buffer.from('Alice : hello there\nBob : hi\n');
const utf16NoBom = Buffer.from('Alice : hello there\n', 'utf16le');
const invalidUtf8 = Buffer.concat([
  Buffer.from('{"content":"Alice : caf'),
  Buffer.from([0xe9]),
  Buffer.from('","flavor":"llama"}'),
]);

/** [what, path, request, status, detail] */
const HTTP_CASES: [string, string, RequestInit, number, RegExp][] = [
  ['JSON: invalid UTF-8 in content', ROUTE, json(invalidUtf8), 400, /JSON body must be UTF-8.*not UTF-8/],
  ['JSON: a NUL in content', ROUTE, json('{"content":"Alice : a\\u0000b","flavor":"llama"}'), 400, /NUL/],
  [
    'JSON: content only NULs',
    ROUTE,
    json('{"content":"\\u0000\\u0000\\u0000","flavor":"llama"}'),
    400,
    /NUL/,
  ],
  [
    'JSON: an unpaired surrogate',
    ROUTE,
    json('{"content":"Alice : \\ud800","flavor":"llama"}'),
    400,
    /unpaired surrogate/,
  ],
  ['JSON: U+FFFD in content', ROUTE, json('{"content":"Alice : \\ufffd","flavor":"llama"}'), 400, /U\+FFFD/],
  [
    'JSON: temperature "0x1"',
    ROUTE,
    json('{"content":"Alice : hi","flavor":"llama","temperature":"0x1"}'),
    400,
    /temperature must be a number in decimal notation/,
  ],
  [
    'JSON: temperature "1e400"',
    ROUTE,
    json('{"content":"Alice : hi","flavor":"llama","temperature":"1e400"}'),
    400,
    /temperature must be a number/,
  ],
  [
    'JSON: temperature 1e400 (a JSON number)',
    ROUTE,
    json('{"content":"Alice : hi","flavor":"llama","temperature":1e400}'),
    400,
    /temperature must be a number/,
  ],
  [
    'JSON: temperature "Infinity"',
    ROUTE,
    json('{"content":"Alice : hi","flavor":"llama","temperature":"Infinity"}'),
    400,
    /temperature must be a number/,
  ],
  [
    'JSON: top_p "NaN"',
    ROUTE,
    json('{"content":"Alice : hi","flavor":"llama","top_p":"NaN"}'),
    400,
    /top_p must be a number/,
  ],
  [
    'JSON: temperature true',
    ROUTE,
    json('{"content":"Alice : hi","flavor":"llama","temperature":true}'),
    400,
    /temperature must be a number/,
  ],
  [
    'JSON: top_p "0"',
    ROUTE,
    json('{"content":"Alice : hi","flavor":"llama","top_p":"0"}'),
    400,
    /top_p must be greater than 0/,
  ],
  [
    'JSON: temperature 2.5',
    ROUTE,
    json('{"content":"Alice : hi","flavor":"llama","temperature":2.5}'),
    400,
    /temperature must be between 0 and 2/,
  ],
  ['JSON: malformed', ROUTE, json('{"content":'), 400, /^Malformed JSON body$/],
  [
    'JSON: latin1 charset',
    ROUTE,
    json('{"content":"hi","flavor":"llama"}', 'application/json; charset=latin1'),
    415,
    /charset/,
  ],
  ['JSON: content a number', ROUTE, json('{"content":42,"flavor":"llama"}'), 400, /content must be a string/],
  ['JSON: content blank', ROUTE, json('{"content":"  \\n ","flavor":"llama"}'), 400, /^Missing content$/],
  ['JSON: no flavor', ROUTE, json('{"content":"Alice : hi"}'), 400, /"flavor" is required/],
  [
    'JSON: unknown flavor',
    ROUTE,
    json('{"content":"Alice : hi","flavor":"gpt-9"}'),
    404,
    /^Flavor not found$/,
  ],
  [
    'JSON: unknown route',
    '/services/nope/generate',
    json('{"content":"Alice : hi","flavor":"llama"}'),
    404,
    /^Service not found$/,
  ],
  [
    'JSON: over MAX_UPLOAD_SIZE',
    ROUTE,
    json(JSON.stringify({ content: 'a'.repeat(1_100_000), flavor: 'llama' })),
    413,
    /MAX_UPLOAD_SIZE/,
  ],
  [
    'multipart: UTF-16LE file without BOM',
    ROUTE,
    multipart({ file: utf16NoBom, flavor: 'llama' }),
    400,
    /NUL.*byte order mark/,
  ],
  [
    'multipart: invalid UTF-8 file',
    ROUTE,
    multipart({ file: Buffer.from([0x41, 0x3a, 0xc3, 0x28]), flavor: 'llama' }),
    400,
    /not UTF-8/,
  ],
  ['multipart: file of NULs', ROUTE, multipart({ file: Buffer.alloc(64), flavor: 'llama' }), 400, /NUL/],
  [
    'multipart: UTF-16LE BOM, broken',
    ROUTE,
    multipart({ file: Buffer.from([0xff, 0xfe, 0x41]), flavor: 'llama' }),
    400,
    /UTF-16LE byte order mark but is not valid/,
  ],
  [
    'multipart: file field as text, invalid UTF-8',
    ROUTE,
    multipart({ flavor: 'llama' }, Buffer.from([0x41, 0x3a, 0xff, 0x42])),
    400,
    /U\+FFFD/,
  ],
  [
    'multipart: file field as text, NUL',
    ROUTE,
    multipart({ flavor: 'llama' }, Buffer.from('Alice : a\0b')),
    400,
    /NUL/,
  ],
  [
    'multipart: temperature "0x1"',
    ROUTE,
    multipart({ file: text, flavor: 'llama', temperature: '0x1' }),
    400,
    /temperature must be a number/,
  ],
  [
    'multipart: top_p "Infinity"',
    ROUTE,
    multipart({ file: text, flavor: 'llama', top_p: 'Infinity' }),
    400,
    /top_p must be a number/,
  ],
  [
    'multipart: empty file',
    ROUTE,
    multipart({ file: Buffer.alloc(0), flavor: 'llama' }),
    400,
    /^Missing content$/,
  ],
  [
    'multipart: over MAX_UPLOAD_SIZE',
    ROUTE,
    multipart({ file: Buffer.alloc(1_100_000, 0x61), flavor: 'llama' }),
    413,
    /./,
  ],
  [
    'no API key',
    ROUTE,
    { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } },
    401,
    /^Invalid or missing API key$/,
  ],
  [
    'a wrong API key',
    ROUTE,
    { method: 'POST', body: '{}', headers: { 'X-API-Key': 'nope' } },
    401,
    /^Invalid or missing API key$/,
  ],
  [
    'multipart over MAX_UPLOAD_SIZE without an API key: the key is checked before the upload is read',
    ROUTE,
    {
      ...multipart({ file: Buffer.alloc(1_100_000, 0x61), flavor: 'llama' }),
      headers: { 'Content-Type': 'multipart/form-data; boundary=hostileboundary' },
    },
    401,
    /^Invalid or missing API key$/,
  ],
  ['docs JSON without a key', '/docs-json', {}, 401, /^Invalid or missing API key$/],
  ['docs YAML without a key', '/docs-yaml', {}, 401, /^Invalid or missing API key$/],
  [
    'openapi.json with a wrong ?api_key=',
    '/openapi.json?api_key=nope',
    {},
    401,
    /^Invalid or missing API key$/,
  ],
  ['asyncapi.json without a key', '/asyncapi.json', {}, 401, /^Invalid or missing API key$/],
  ['services without a key', '/services', {}, 401, /^Invalid or missing API key$/],
];

/** Raw requests Node's own parser refuses: [what, bytes, status, detail]. */
const RAW_CASES: [string, string, number, RegExp][] = [
  ['an unknown method', 'FROB / HTTP/1.1\r\nHost: x\r\n\r\n', 400, /^Malformed request/],
  [
    'a header line without a colon',
    'GET /healthcheck HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n',
    400,
    /^Malformed request/,
  ],
  [
    'headers over 16 KiB',
    `GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    431,
    /^Request headers too large$/,
  ],
  [
    'an invalid Content-Length',
    `POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`,
    400,
    /^Malformed request/,
  ],
  [
    'Content-Length and chunked together',
    `POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    400,
    /^Malformed request/,
  ],
  [
    'a control character in a header',
    'GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n',
    400,
    /^Malformed request/,
  ],
];

/** Sends raw bytes; resolves with what the server answered before closing. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.once('error', reject);
    socket.once('close', () => resolve(answer));
    socket.write(request);
  });
}

const port = () => Number(new URL(gateway.baseUrl).port);

/** POSTs a JSON body with a Content-Length, or chunked (no length): the answer's status and detail. */
function postJson(
  body: Buffer,
  contentType: string,
  hasLength: boolean,
): Promise<{ status: number; detail: unknown }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port: port(),
        path: ROUTE,
        method: 'POST',
        headers: {
          ...withKey,
          'Content-Type': contentType,
          ...(hasLength ? { 'Content-Length': body.length } : { 'Transfer-Encoding': 'chunked' }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            detail: (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { detail?: unknown }).detail,
          }),
        );
      },
    );
    outgoing.once('error', reject);
    outgoing.end(body);
  });
}

describe('hostile input (issue 13): each refused with its 4xx and {detail}; nothing reaches the LLM or the queue', () => {
  it.each(HTTP_CASES)('%s', async (_what, path, request, status, detail) => {
    const response = await fetch(`${gateway.baseUrl}${path}`, request);
    const body = (await response.json()) as { detail?: unknown };
    expect([response.status, body.detail]).toEqual([status, expect.stringMatching(detail)]);
  });

  it.each(RAW_CASES)('raw HTTP: %s', async (_what, request, status, detail) => {
    const answer = await rawExchange(port(), request);
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    expect(head.split('\r\n')[0]).toBe(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}`,
    );
    expect((JSON.parse(body) as { detail: string }).detail).toMatch(detail);
  });

  it.each([
    ['an unknown path', '/ws/nothing-here', {}, 404],
    ['no API key', '/ws/results', {}, 401],
    ['a wrong ?api_key=', '/ws/results?api_key=nope', {}, 401],
    ['a wrong header key', '/ws/results/some-id', { 'X-API-Key': 'nope' }, 401],
  ])('WebSocket upgrade with %s is refused', async (_what, path, headers, status) => {
    await expect(TestSocket.open(wsUrl(gateway.baseUrl, path), headers)).rejects.toThrow(
      `upgrade refused: ${status}`,
    );
  });

  it.each([
    ['not JSON', 'hello', /not JSON/],
    ['an object', '{"ids":["a"]}', /not a JSON array/],
    ['an array of numbers', '[1,2]', /./],
    ['an array holding null', '[null]', /./],
  ])('WS /ws/results frame: %s gets status invalid', async (_what, frame, detail) => {
    const socket = await TestSocket.open(wsUrl(gateway.baseUrl, '/ws/results'), withKey);
    try {
      socket.send(frame);
      const [message] = await socket.waitUntil((messages) => messages.length > 0, 5_000);
      expect(message).toMatchObject({ status: 'invalid' });
      expect((message as { detail: string }).detail).toMatch(detail);
    } finally {
      socket.socket.close();
    }
  });

  it('a slow client sending its headers byte by byte is closed (HTTP_HEADERS_TIMEOUT)', async () => {
    const socket = connect({ host: '127.0.0.1', port: port() });
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const request = 'GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200);
    let index = 0;
    const dripper = setInterval(() => {
      if (!socket.destroyed && index < request.length) socket.write(request[index++] ?? '');
    }, 200);
    try {
      await closed;
    } finally {
      clearInterval(dripper);
    }
    expect(index).toBeLessThan(request.length);
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    expect(answer).toContain('{"detail":"Request not received in time"}');
  });

  it('a WebSocket stays open past HTTP_REQUEST_TIMEOUT (an upgrade is no longer a request)', async () => {
    const socket = await TestSocket.open(wsUrl(gateway.baseUrl, '/ws/results'), withKey);
    try {
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      socket.send([]);
      const [message] = await socket.waitUntil((messages) => messages.length > 0, 5_000);
      expect(Array.isArray(message)).toBe(true);
    } finally {
      socket.socket.close();
    }
  }, 20_000);

  // The usual JSON request (a Content-Length, UTF-8) is read by the gateway directly, any other
  // by body-parser: the same bytes, sent both ways, must get the same answer.
  it.each([
    [
      'an object (parsed: its flavor is looked up)',
      '{"content":"Alice : hi","flavor":"gpt-9"}',
      404,
      /^Flavor not found$/,
    ],
    ['the same after a BOM', '\ufeff{"content":"Alice : hi","flavor":"gpt-9"}', 404, /^Flavor not found$/],
    [
      'the same after whitespace',
      ' \r\n\t{"content":"Alice : hi","flavor":"gpt-9"}',
      404,
      /^Flavor not found$/,
    ],
    ['an empty body (read as {})', '', 400, /^Missing content$/],
    ['whitespace only', ' \n ', 400, /^Malformed JSON body$/],
    ['a JSON string (strict: object or array only)', '"Alice : hi"', 400, /^Malformed JSON body$/],
    ['a number after whitespace', '  42', 400, /^Malformed JSON body$/],
    ['an object, then more', '{"content":"Alice : hi","flavor":"gpt-9"} x', 400, /^Malformed JSON body$/],
    ['a cut object', '{"content":', 400, /^Malformed JSON body$/],
    ['bytes that are not UTF-8', invalidUtf8, 400, /JSON body must be UTF-8.*not UTF-8/],
  ])(
    'a JSON body, sent with a Content-Length and chunked, gets one answer: %s',
    async (_what, body, status, detail) => {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      for (const contentType of ['application/json', 'application/json; charset="UTF-8"']) {
        const answers = await Promise.all(
          [true, false].map((hasLength) => postJson(bytes, contentType, hasLength)),
        );
        expect(answers).toEqual([
          { status, detail: expect.stringMatching(detail) as string },
          { status, detail: expect.stringMatching(detail) as string },
        ]);
      }
    },
  );

  it('nothing reached the LLM simulator or the queue; a valid request still does', async () => {
    expect(simulator.requests).toEqual([]);
    expect((await redis.keys('*')).filter((key) => /:[0-9a-f-]{36}$/.test(key))).toEqual([]);
    const response = await fetch(
      `${gateway.baseUrl}${ROUTE}`,
      json('{"content":"Alice : hi","flavor":"llama","temperature":"   "}'),
    );
    expect(response.status).toBe(200);
    await waitFor(async () => simulator.requests.length > 0, 10_000, 'the valid job to reach the LLM');
  });
});
