import { createConnection } from 'node:net';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { JobEventsRepository } from '../src/realtime/job-events.repository';
import { JobWatchService } from '../src/realtime/job-watch.service';
import { RealtimeSocketsRepository } from '../src/realtime/realtime-sockets.repository';
import { startTestGateway, type TestGateway, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import {
  expectedTurnLines,
  installTestServices,
  predictedSummary,
  readTranscript,
  startWorkerGateway,
  submit,
  submitAndWait,
} from './support/pipeline-fixtures';
import { findFreePort, startRedisServer } from './support/redis-server';
import { TestSocket, wsUrl } from './support/ws-client';

type Message = Record<string, unknown>;

const HEARTBEAT_SECONDS = 0.3;

/** docs/api.md sections 4–5: the exact keys of each state message of a per-job socket. */
const KEYS_BY_STATUS: Record<string, string[]> = {
  queued: ['message', 'status'],
  started: ['message', 'status'],
  processing: ['message', 'progress', 'status'],
  complete: ['message', 'status', 'summarization', 'usage'],
  error: ['details', 'error', 'message', 'status'],
  unknown: ['message', 'status'],
};

/** Asserts the states only move forward: queued < started < processing by percent < final. */
function expectForwardOnly(messages: Message[]): void {
  const rank = (message: Message) =>
    message.status === 'queued'
      ? 0
      : message.status === 'started'
        ? 1
        : message.status === 'processing'
          ? 2 + Number(message.progress) / 1000
          : 10;
  const ranks = messages.map(rank);
  for (let index = 1; index < ranks.length; index += 1) {
    expect(ranks[index]).toBeGreaterThan(ranks[index - 1] ?? -1);
  }
}

describe('WebSocket API (docs/api.md section 5)', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
    gateway = await startWorkerGateway(simulator, { WS_POLLING_INTERVAL: String(HEARTBEAT_SECONDS) });
  });
  afterEach(() => {
    simulator.reset();
    simulator.latencyMs = 0;
  });
  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
  });

  const open = (path: string, headers?: Record<string, string>) =>
    TestSocket.open(wsUrl(gateway.baseUrl, path), headers);

  describe('WS /ws/results/<id>', () => {
    it('sends the state on connect, one message per change, then complete and close 1000', async () => {
      simulator.latencyMs = 30;
      const text = readTranscript('ES2004a.txt');
      const jobId = await submit(gateway, 'test/progressive', text);
      const socket = await open(`/ws/results/${jobId}`);
      const closed = await socket.closed(60_000);
      const messages = socket.messages as Message[];

      expect(closed).toEqual({ code: 1000, reason: 'complete' });
      for (const message of messages) {
        expect(Object.keys(message).sort()).toEqual(KEYS_BY_STATUS[String(message.status)]);
      }
      expectForwardOnly(messages);
      const processing = messages.filter((message) => message.status === 'processing');
      expect(processing.length).toBeGreaterThan(10);
      expect(processing.every((message) => /^\d+$/.test(String(message.progress)))).toBe(true);
      expect(messages.at(-1)).toEqual({
        status: 'complete',
        message: 'success',
        summarization: predictedSummary(expectedTurnLines(text)),
        usage: expect.objectContaining({ flavor: 'small' }) as unknown,
      });
      const result = await fetch(`${gateway.baseUrl}/results/${jobId}`);
      expect(await result.json()).toEqual(messages.at(-1));
    });

    it.each(['test/progressive', 'test/map'])(
      '%s with ?partial=true: the partial lines add up to the summary as it grows',
      async (route) => {
        simulator.latencyMs = 20;
        const text = readTranscript('ES2004a.txt');
        const jobId = await submit(gateway, route, text);
        const socket = await open(`/ws/results/${jobId}?partial=true`);
        await socket.closed(60_000);
        const messages = socket.messages as Message[];
        const processing = messages.filter((message) => message.status === 'processing');
        const final = messages.at(-1);

        expect(processing.every((message) => typeof message.partial === 'string')).toBe(true);
        expect(final?.status).toBe('complete');
        expect(final).not.toHaveProperty('partial');
        const grown = processing.map((message) => String(message.partial)).join('');
        expect(grown).toBe(`${String(final?.summarization)}\n`);
        // It really grows along the way, not all at the end.
        const withLines = processing.filter((message) => String(message.partial) !== '');
        expect(withLines.length).toBeGreaterThan(5);
      },
    );

    it('v1 clients (no ?partial) never see a partial field', async () => {
      const jobId = await submit(gateway, 'test/map', readTranscript('ES2004a.txt'));
      const socket = await open(`/ws/results/${jobId}`);
      await socket.closed(60_000);
      expect((socket.messages as Message[]).some((message) => 'partial' in message)).toBe(false);
    });

    it('an unknown id gets one unknown message, then close 1000', async () => {
      const socket = await open('/ws/results/00000000-0000-4000-8000-000000000000');
      expect(await socket.closed(5_000)).toEqual({ code: 1000, reason: 'unknown' });
      expect(socket.messages).toEqual([{ status: 'unknown', message: 'Task does not exist' }]);
    });

    it('a socket opened after the job completed gets the final state at once', async () => {
      const jobId = await submitAndWait(gateway, 'test/map', 'Alice : hello there');
      const socket = await open(`/ws/results/${jobId}?partial=true`);
      expect(await socket.closed(2_000)).toEqual({ code: 1000, reason: 'complete' });
      expect(socket.messages).toEqual([
        {
          status: 'complete',
          message: 'success',
          summarization: 'Alice : hello there (2 words)',
          usage: expect.objectContaining({ flavor: 'small' }) as unknown,
        },
      ]);
    });

    it('a failed job: error with details and error, then close 1000', async () => {
      simulator.injectFaults(...Array.from({ length: 7 }, () => ({ kind: 'server_error' as const })));
      const jobId = await submit(gateway, 'test/progressive', 'Alice : hello');
      const socket = await open(`/ws/results/${jobId}`);
      expect((await socket.closed(30_000)).code).toBe(1000);
      const final = socket.messages.at(-1) as Message;
      expect(final).toMatchObject({ status: 'error', message: 'Task failed' });
      expect(final.details).toMatch(/LLM call failed after \d+ attempts: 500/);
      expect(final.error).toBe(final.details);
    });

    it('a queued job that is cancelled ends as error "cancelled"', async () => {
      simulator.latencyMs = 100;
      // Both job slots of the worker (CONCURRENCY defaults to 2) are taken for seconds: the next job waits.
      const busy = await Promise.all(
        [1, 2].map(() => submit(gateway, 'test/progressive', readTranscript('ES2004a.txt'))),
      );
      const jobId = await submit(gateway, 'test/progressive', 'Alice : hello');
      const socket = await open(`/ws/results/${jobId}`);
      await socket.waitUntil((messages) => messages.length > 0, 5_000);
      expect(socket.messages[0]).toEqual({ status: 'queued', message: 'Task is in queue' });
      await fetch(`${gateway.baseUrl}/results/${jobId}`, { method: 'DELETE' });
      expect((await socket.closed(10_000)).code).toBe(1000);
      expect(socket.messages.at(-1)).toEqual({
        status: 'error',
        message: 'Task failed',
        details: 'cancelled',
        error: 'cancelled',
      });
      for (const id of busy) {
        const busySocket = await open(`/ws/results/${id}`);
        await fetch(`${gateway.baseUrl}/results/${id}`, { method: 'DELETE' });
        expect((await busySocket.closed(10_000)).code).toBe(1000);
        expect(busySocket.messages.at(-1)).toMatchObject({ status: 'error', details: 'cancelled' });
      }
    });

    it('sockets opened at any moment of a running job all end with its final state, never going back', async () => {
      simulator.latencyMs = 5;
      const jobId = await submit(gateway, 'test/progressive', readTranscript('ES2004a.txt'));
      const sockets: TestSocket[] = [];
      for (let index = 0; index < 40; index += 1) {
        sockets.push(await open(`/ws/results/${jobId}`));
        await new Promise((resolve) => setTimeout(resolve, 15 + (index % 5) * 10));
      }
      for (const socket of sockets) {
        expect((await socket.closed(60_000)).code).toBe(1000);
        expect((socket.messages.at(-1) as Message).status).toBe('complete');
        expectForwardOnly(socket.messages as Message[]);
      }
    });
  });

  describe('WS /ws/results', () => {
    it('behaves for a v1 client: silent for 1 s, then two arrays on one socket, changes, heartbeats', async () => {
      simulator.latencyMs = 20;
      const text = readTranscript('ES2004a.txt');
      const socket = await open('/ws/results');
      // Several heartbeat intervals pass: nothing is sent before the answer to the first array (v1).
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(socket.messages).toEqual([]);

      const first = await submit(gateway, 'test/map', text);
      socket.send([first]);
      const answerToFirst = (await socket.waitUntil((messages) => messages.some(Array.isArray)))
        .filter(Array.isArray)
        .at(0) as Message[];
      expect(answerToFirst).toHaveLength(1);
      expect(answerToFirst[0]?.task_id).toBe(first);
      expect(['queued', 'started', 'processing']).toContain(answerToFirst[0]?.status);

      await new Promise((resolve) => setTimeout(resolve, 200));
      const second = await submit(gateway, 'test/progressive', text);
      socket.send([second]);
      const states = new Map<string, Message>();
      await socket.waitUntil(() => {
        for (const message of socket.messages) {
          for (const entry of Array.isArray(message) ? (message as Message[]) : [message as Message]) {
            if (typeof entry.task_id === 'string') states.set(entry.task_id, entry);
          }
        }
        return [first, second].every((id) => states.get(id)?.status === 'complete');
      }, 60_000);
      socket.close();

      const arrays = socket.messages.filter(Array.isArray) as Message[][];
      expect(arrays).toHaveLength(2);
      expect(arrays[1]?.map((entry) => entry.task_id)).toEqual([second]);
      const objects = socket.messages.filter((message) => !Array.isArray(message)) as Message[];
      const changes = objects.filter((message) => 'task_id' in message);
      const heartbeats = objects.filter((message) => !('task_id' in message));
      expect(heartbeats.length).toBeGreaterThanOrEqual(3);
      expect(heartbeats.every((message) => JSON.stringify(message) === '{"status":"alive"}')).toBe(true);
      expect(new Set(changes.map((message) => message.task_id))).toEqual(new Set([first, second]));
      for (const jobId of [first, second]) {
        const ofJob = changes.filter((message) => message.task_id === jobId);
        expectForwardOnly(ofJob);
        expect(ofJob.at(-1)).toEqual({
          task_id: jobId,
          status: 'complete',
          message: 'success',
          summarization: ((await (await fetch(`${gateway.baseUrl}/results/${jobId}`)).json()) as Message)
            .summarization,
          usage: expect.objectContaining({ flavor: 'small' }) as unknown,
          progress: '100',
        });
      }
    });

    it('answers each array with the current state of its ids, unknown ones included', async () => {
      const done = await submitAndWait(gateway, 'test/map', 'Alice : hello there');
      const socket = await open('/ws/results');
      socket.send([done, 'no-such-job', done]);
      const [answer] = (await socket.waitUntil((messages) => messages.some(Array.isArray))).filter(
        Array.isArray,
      );
      expect(answer).toEqual([
        {
          task_id: done,
          status: 'complete',
          message: 'success',
          summarization: 'Alice : hello there (2 words)',
          usage: expect.objectContaining({ flavor: 'small' }) as unknown,
          progress: '100',
        },
        { task_id: 'no-such-job', status: 'unknown', message: 'Task does not exist' },
      ]);
      socket.close();
    });

    it('a socket never hears of jobs it did not subscribe to', async () => {
      simulator.latencyMs = 10;
      const text = readTranscript('ES2004a.txt');
      const [jobA, jobB] = await Promise.all([
        submit(gateway, 'test/map', text),
        submit(gateway, 'test/map', text),
      ]);
      const [socketA, socketB] = await Promise.all([open('/ws/results'), open('/ws/results')]);
      socketA.send([jobA]);
      socketB.send([jobB]);
      const completes = (socket: TestSocket, jobId: string) =>
        socket.waitUntil(
          (messages) =>
            messages.some(
              (message) =>
                (message as Message).task_id === jobId && (message as Message).status === 'complete',
            ),
          60_000,
        );
      await Promise.all([completes(socketA, jobA), completes(socketB, jobB)]);
      const idsSeen = (socket: TestSocket) =>
        new Set(
          socket.messages
            .flatMap((message) => (Array.isArray(message) ? (message as Message[]) : [message as Message]))
            .map((message) => message.task_id)
            .filter((id) => id !== undefined),
        );
      expect(idsSeen(socketA)).toEqual(new Set([jobA]));
      expect(idsSeen(socketB)).toEqual(new Set([jobB]));
      socketA.close();
      socketB.close();
    });

    it.each<[string, string | Buffer]>([
      ['not JSON', 'hello'],
      ['not an array', '{"ids":["a"]}'],
      ['not an array of strings', '["a", 1]'],
      ['more than 1,000 ids', JSON.stringify(Array.from({ length: 1001 }, (_, index) => `id-${index}`))],
      ['over 64 KB', JSON.stringify(['x'.repeat(70 * 1024)])],
    ])(
      'a frame %s gets one error message; the socket stays open, others unaffected',
      async (_name, frame) => {
        const [bad, neighbour] = await Promise.all([open('/ws/results'), open('/ws/results')]);
        bad.send(frame);
        await bad.waitUntil((messages) =>
          messages.some((message) => (message as Message).status === 'invalid'),
        );
        const refusals = bad.messages.filter((message) => (message as Message).status === 'invalid');
        expect(refusals).toHaveLength(1);
        expect(refusals[0]).toEqual({ status: 'invalid', detail: expect.any(String) as string });
        // Still served afterwards, and the neighbour never saw the refusal.
        bad.send(['still-here']);
        await bad.waitUntil((messages) => messages.some(Array.isArray), 5_000);
        expect(bad.closeEvent).toBeUndefined();
        expect(neighbour.messages.every((message) => (message as Message).status === 'alive')).toBe(true);
        bad.close();
        neighbour.close();
      },
    );
  });

  describe('connections', () => {
    const sockets = () => gateway.get(RealtimeSocketsRepository);

    it('a peer that stops answering pings is dropped', async () => {
      await waitFor(async () => sockets().count() === 0, 5_000, 'earlier sockets to close');
      // A raw TCP client: it completes the handshake, then never answers a ping (it only records
      // what it receives, so that it notices being closed).
      const { port } = new URL(gateway.baseUrl);
      const raw = createConnection({ host: '127.0.0.1', port: Number(port) });
      raw.write(
        'GET /ws/results HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      const closedByServer = new Promise<void>((resolve) => raw.once('close', () => resolve()));
      raw.on('error', () => undefined);
      const received: Buffer[] = [];
      raw.on('data', (chunk: Buffer) => received.push(chunk));
      await waitFor(async () => sockets().count() === 1, 5_000, 'the raw socket to connect');
      await waitFor(
        async () => sockets().count() === 0,
        10 * HEARTBEAT_SECONDS * 1000,
        'the dead peer to be dropped',
      );
      // Dropped for the pings it left unanswered (two empty ping frames, 0x89 0x00), not at once.
      const bytes = Buffer.concat(received);
      const pings = [...bytes.entries()].filter(
        ([index, byte]) => byte === 0x89 && bytes[index + 1] === 0x00,
      ).length;
      expect(pings).toBeGreaterThanOrEqual(2);
      await closedByServer;
    });

    it('the OpenAPI document describes both endpoints', async () => {
      const document = (await (
        await fetch(`${gateway.baseUrl}${gateway.config.swagger.path}-json`)
      ).json()) as {
        info: { description: string };
      };
      expect(document.info.description).toContain('WS /ws/results/{id}');
      expect(document.info.description).toContain('WS /ws/results`');
      expect(document.info.description).toContain('?partial=true');
    });

    it('refuses unknown paths with 404', async () => {
      await expect(open('/ws/nothing')).rejects.toThrow('upgrade refused: 404');
      await expect(open('/ws/results/a/b')).rejects.toThrow('upgrade refused: 404');
    });
  });
});

describe('WebSocket API: API keys and shutdown', () => {
  it('needs an API key when API_KEYS is set (header or ?api_key=) and closes sockets with 1001 on shutdown', async () => {
    const gateway = await startTestGateway({ env: { API_KEYS: 'key-one,key-two' } });
    let isClosed = false;
    try {
      const url = wsUrl(gateway.baseUrl, '/ws/results');
      await expect(TestSocket.open(url)).rejects.toThrow('upgrade refused: 401');
      await expect(TestSocket.open(url, { 'X-API-Key': 'wrong' })).rejects.toThrow('upgrade refused: 401');
      const byHeader = await TestSocket.open(url, { Authorization: 'Bearer key-two' });
      const byQuery = await TestSocket.open(`${url}?api_key=key-one`);
      const perJob = await TestSocket.open(wsUrl(gateway.baseUrl, '/ws/results/unknown-id?api_key=key-one'));
      await perJob.closed(5_000);

      await gateway.close();
      isClosed = true;
      expect(await byHeader.closed(5_000)).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect(await byQuery.closed(5_000)).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect(gateway.logger.matching(/key-one|key-two/)).toEqual([]);
    } finally {
      if (!isClosed) await gateway.close();
    }
  });
});

describe('WebSocket API while Redis is unreachable', () => {
  it('closes a per-job socket with 1011 and tells a multi-job socket to send its ids again', async () => {
    const redis = await startRedisServer();
    const gateway = await startTestGateway({ redisUrl: redis.url });
    try {
      const feed = await TestSocket.open(wsUrl(gateway.baseUrl, '/ws/results'));
      await redis.stop();
      const perJob = await TestSocket.open(wsUrl(gateway.baseUrl, '/ws/results/any-id'));
      expect(await perJob.closed(5_000)).toEqual({ code: 1011, reason: 'Redis is unavailable' });
      expect(perJob.messages).toEqual([]);

      feed.send(['any-id']);
      await feed.waitUntil(
        (messages) => messages.some((message) => (message as Message).status === 'unavailable'),
        5_000,
      );
      expect(feed.messages.filter((message) => (message as Message).status === 'unavailable')).toEqual([
        { status: 'unavailable', detail: 'Redis is unavailable: send the job ids again' },
      ]);
      expect(feed.closeEvent).toBeUndefined();
      expect(gateway.get(JobWatchService).stats()).toEqual({ jobs: 0, subscribers: 0 });
      feed.close();
    } finally {
      await gateway.close();
    }
  });
});

describe('WebSocket API when Redis restarts', () => {
  it('reads followed jobs again: a job lost with Redis is reported unknown instead of waited for forever', async () => {
    let redis = await startRedisServer();
    const gateway = await startTestGateway({ redisUrl: redis.url, seedSamples: false });
    try {
      await installTestServices(gateway);
      const jobId = await submit(gateway, 'test/progressive', 'Alice : hello'); // API only: stays queued
      const socket = await TestSocket.open(wsUrl(gateway.baseUrl, `/ws/results/${jobId}`));
      await socket.waitUntil((messages) => messages.length === 1, 5_000);
      await redis.stop(); // no persistence: the job is gone with it
      redis = await startRedisServer([], redis.port);
      expect(await socket.closed(10_000)).toEqual({ code: 1000, reason: 'unknown' });
      expect(socket.messages).toEqual([
        { status: 'queued', message: 'Task is in queue' },
        { status: 'unknown', message: 'Task does not exist' },
      ]);
    } finally {
      await gateway.close();
      await redis.stop();
    }
  });
});

describe('WebSocket API when Redis comes up after the API process', () => {
  it('pushes every change once Redis answers', async () => {
    const port = await findFreePort();
    const simulator = await new LlmSimulator({ latencyMs: 20 }).start();
    const gateway = await startTestGateway({
      redisUrl: `redis://127.0.0.1:${port}`,
      seedSamples: false,
      env: { ROLE: 'all', OPENAI_API_BASE: simulator.baseUrl },
    });
    const redis = await startRedisServer([], port);
    try {
      await installTestServices(gateway);
      await waitFor(async () => (await fetch(`${gateway.baseUrl}/health/ready`)).ok, 10_000, 'Redis');
      const jobId = await submit(gateway, 'test/progressive', readTranscript('ES2004a.txt'));
      const socket = await TestSocket.open(wsUrl(gateway.baseUrl, `/ws/results/${jobId}`));
      expect((await socket.closed(30_000)).code).toBe(1000);
      const messages = socket.messages as Message[];
      expect(messages.filter((message) => message.status === 'processing').length).toBeGreaterThan(10);
      expect(messages.at(-1)?.status).toBe('complete');
    } finally {
      await gateway.close();
      await redis.stop();
      await simulator.stop();
    }
  });
});

describe('WebSocket connections that come and go', () => {
  it('reads the event stream only while a socket follows a job: submissions alone read nothing', async () => {
    const gateway = await startTestGateway({ seedSamples: false });
    try {
      await installTestServices(gateway);
      const events = gateway.get(JobEventsRepository);
      events.idleStopMs = 200;
      const jobIds = await Promise.all(
        Array.from({ length: 5 }, () => submit(gateway, 'test/progressive', 'Alice : hello')),
      );
      expect(events.isReading).toBe(false);

      const first = await TestSocket.open(wsUrl(gateway.baseUrl, `/ws/results/${jobIds[0] ?? ''}`));
      await first.waitUntil((messages) => messages.length > 0, 10_000);
      expect(events.isReading).toBe(true);
      first.socket.terminate();
      await waitFor(async () => !events.isReading, 5_000, 'the reader to stop once nobody follows a job');

      const again = await TestSocket.open(wsUrl(gateway.baseUrl, '/ws/results'));
      again.send(jobIds);
      // A multi-job socket's first message: the state of every id sent, in one array.
      await again.waitUntil((messages) => messages.length > 0, 10_000);
      expect(events.isReading).toBe(true);
      expect((again.messages[0] as Message[]).map((message) => message.status)).toEqual(
        jobIds.map(() => 'queued'),
      );
      again.socket.terminate();
    } finally {
      await gateway.close();
    }
  });

  it('200 sockets opened and dropped abruptly leave no socket, subscription, listener or memory behind', async () => {
    // API only: the followed job stays queued, so nothing but the sockets changes the heap.
    const gateway = await startTestGateway({ seedSamples: false });
    try {
      await installTestServices(gateway);
      const sockets = gateway.get(RealtimeSocketsRepository);
      const watches = gateway.get(JobWatchService);
      const events = gateway.get(JobEventsRepository);
      const jobId = await submit(gateway, 'test/progressive', readTranscript('ES2004a.txt'));
      v8.setFlagsFromString('--expose-gc');
      const collectGarbage = vm.runInNewContext('gc') as () => void;
      const heapAfterGc = async () => {
        for (let round = 0; round < 3; round += 1) {
          collectGarbage();
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return process.memoryUsage().heapUsed;
      };
      const openAndDrop = async (count: number) => {
        const opened = await Promise.all(
          Array.from({ length: count }, (_, index) =>
            TestSocket.open(
              wsUrl(gateway.baseUrl, index % 2 === 0 ? `/ws/results/${jobId}?partial=true` : '/ws/results'),
            ),
          ),
        );
        opened.forEach((socket, index) => {
          if (index % 2 === 1) socket.send([jobId, 'other-id']);
        });
        await Promise.all(
          opened.map((socket) => socket.waitUntil((messages) => messages.length > 0, 10_000)),
        );
        expect(sockets.count()).toBe(count);
        expect(watches.stats()).toEqual({ jobs: 1, subscribers: count });
        const heapWithSockets = await heapAfterGc();
        // Dropped without a close frame, as a crashed client or a lost network would.
        opened.forEach((socket) => socket.socket.terminate());
        await waitFor(async () => sockets.count() === 0, 5_000, 'the server to notice the dropped sockets');
        return heapWithSockets;
      };
      await openAndDrop(100); // warm-up: code paths compiled, pools allocated
      const listenersBefore = events.listenerCount();
      const heapBefore = await heapAfterGc();
      const heapWithSockets = await openAndDrop(200);
      expect(watches.stats()).toEqual({ jobs: 0, subscribers: 0 });
      expect(events.listenerCount()).toBe(listenersBefore);
      const heapAfter = await heapAfterGc();
      const heldPerSocket = (heapWithSockets - heapBefore) / 200;
      // Back near the start: less than a quarter of what the open sockets held (the rest is GC
      // noise of a few hundred KB; the counts above catch smaller leaks).
      expect(heldPerSocket).toBeGreaterThan(1_000);
      expect(heapAfter - heapBefore).toBeLessThan(50 * heldPerSocket);
    } finally {
      await gateway.close();
    }
  });
});
