import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import {
  createGatewayClient,
  GatewayHttpError,
  GatewayUnreachableError,
  type JobMessage,
} from '../clients/typescript/src';
import { REPOSITORY_ROOT, startTestGateway, type TestGateway } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import {
  expectedTurnLines,
  predictedSummary,
  readTranscript,
  startWorkerGateway,
} from './support/pipeline-fixtures';

const GENERATED_TYPES = join(REPOSITORY_ROOT, 'clients/typescript/src/generated/openapi.ts');
const GENERATOR = join(REPOSITORY_ROOT, 'clients/typescript/scripts/generate-types.mjs');

describe('SDK types: generated from the served document (CI fails when they drift)', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway(); // the repository's sample services
  });
  afterAll(() => gateway.close());

  it('openapi-typescript on GET /openapi.json gives the committed file', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [GENERATOR, `${gateway.baseUrl}/openapi.json`, '--stdout'],
      { cwd: REPOSITORY_ROOT, maxBuffer: 16 * 1024 * 1024 },
    );
    if (process.env.UPDATE_SDK === '1') writeFileSync(GENERATED_TYPES, stdout);
    const committed = readFileSync(GENERATED_TYPES, 'utf8');
    if (stdout !== committed) {
      throw new Error(
        'clients/typescript/src/generated/openapi.ts differs from what the gateway document generates: ' +
          'run `UPDATE_SDK=1 npx jest test/sdk.e2e-spec.ts` and commit the file',
      );
    }
  });

  it('keeps the generic operations and leaves out the per-service ones (they depend on the manifests)', async () => {
    const served = (await (await fetch(`${gateway.baseUrl}/openapi.json`)).json()) as { paths: object };
    expect(Object.keys(served.paths)).toContain('/services/summarize/en/generate');
    const generated = readFileSync(GENERATED_TYPES, 'utf8');
    for (const operation of ['listServices', 'generate', 'getResult', 'cancelResult']) {
      expect(generated).toContain(`operations['${operation}']`);
    }
    expect(generated).not.toContain('generate_summarize_en');
    expect(generated).toContain('file: Blob');
  });
});

/** A TCP proxy in front of a gateway: its target can change and its connections can be cut. */
class Proxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Connections accepted so far. */
  connections = 0;

  constructor(public targetPort: number) {
    this.server = createServer((client) => {
      this.connections += 1;
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Drops every connection without a close frame, as a lost network does. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const portOf = (gateway: TestGateway) => Number(new URL(gateway.baseUrl).port);

describe('SDK against the real gateway', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
    gateway = await startWorkerGateway(simulator);
  });
  afterEach(() => {
    simulator.latencyMs = 0;
  });
  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
  });

  const client = () => createGatewayClient({ baseUrl: gateway.baseUrl, WebSocket });

  it('lists the services with their flavors', async () => {
    const services = await client().listServices();
    expect(services.map((service) => service.route)).toEqual(['test/progressive', 'test/map']);
    expect(services[0]?.flavor.map((flavor) => flavor.name)).toEqual(['small']);
  });

  it('submits a text as multipart, follows it with partial lines and ends with the summary', async () => {
    simulator.latencyMs = 10;
    const text = readTranscript('ES2004a.txt');
    const sdk = client();
    const queued = await sdk.submit({ route: 'test/progressive', flavor: 'small', text, temperature: 0.3 });
    expect(queued.message).toBe('Request successfully queued');
    const states: JobMessage[] = [];
    for await (const state of sdk.followJob(queued.jobId, { partial: true })) states.push(state);

    const final = states.at(-1);
    const expected = predictedSummary(expectedTurnLines(text));
    expect(final).toEqual({
      status: 'complete',
      message: 'success',
      summarization: expected,
      usage: expect.objectContaining({ flavor: 'small' }) as unknown,
    });
    const partial = states
      .map((state) => (state.status === 'processing' ? (state.partial ?? '') : ''))
      .join('');
    expect(partial).toBe(`${expected}\n`);
    expect(await sdk.getResult(queued.jobId)).toEqual(final);
    expect(simulator.requests.at(-1)?.temperature).toBe(0.3);
  });

  it('submits a file (a Blob) and waits for the result', async () => {
    const sdk = client();
    const text = 'Alice : We ship on Friday.\nBob : I will write the notes.\n';
    const { jobId } = await sdk.submit({ route: 'test/map', flavor: 'small', file: new Blob([text]) });
    const seen: string[] = [];
    const final = await sdk.waitForResult(jobId, { onState: (state) => seen.push(state.status) });
    expect(final).toEqual({
      status: 'complete',
      message: 'success',
      summarization: predictedSummary(expectedTurnLines(text)),
      usage: expect.objectContaining({ flavor: 'small' }) as unknown,
    });
    expect(seen.at(-1)).toBe('complete');
  });

  it('loads the ws package by itself when Node has no global WebSocket', async () => {
    const sdk = createGatewayClient({ baseUrl: gateway.baseUrl });
    const { jobId } = await sdk.submit({ route: 'test/map', flavor: 'small', text: 'Alice : hello' });
    expect((await sdk.waitForResult(jobId)).status).toBe('complete');
  });

  it('answers unknown jobs as states, refusals as GatewayHttpError, a dead URL as GatewayUnreachableError', async () => {
    const sdk = client();
    const missing = '00000000-0000-0000-0000-000000000000';
    expect(await sdk.getResult(missing)).toEqual({ status: 'unknown', message: 'Task does not exist' });
    const states: JobMessage[] = [];
    for await (const state of sdk.followJob(missing)) states.push(state);
    expect(states).toEqual([{ status: 'unknown', message: 'Task does not exist' }]);
    await expect(sdk.cancel(missing)).rejects.toMatchObject({ status: 404, detail: 'Unknown task' });
    await expect(sdk.submit({ route: 'test/map', flavor: 'gpt-9', text: 'A : b' })).rejects.toEqual(
      new GatewayHttpError(`${gateway.baseUrl}/services/test/map/generate`, 404, 'Flavor not found'),
    );
    const dead = createGatewayClient({ baseUrl: 'http://127.0.0.1:1' });
    await expect(dead.listServices()).rejects.toBeInstanceOf(GatewayUnreachableError);
  });

  it('cancels a running job: it ends as error "cancelled"', async () => {
    simulator.latencyMs = 200;
    const sdk = client();
    const { jobId } = await sdk.submit({
      route: 'test/progressive',
      flavor: 'small',
      text: readTranscript('ES2004a.txt'),
    });
    for await (const state of sdk.followJob(jobId)) if (state.status === 'processing') break;
    expect(await sdk.cancel(jobId)).toEqual({ status: 'cancelled', message: 'Task cancelled' });
    const final = await sdk.waitForResult(jobId);
    expect(final).toMatchObject({ status: 'error', details: 'cancelled', error: 'cancelled' });
  });

  it('reconnects after a dropped connection and after a 1001 close, and yields no partial line twice', async () => {
    simulator.latencyMs = 40;
    const shared = { redisUrl: gateway.redisUrl, seedSamples: false, env: { ROLE: 'api' } };
    const first = await startTestGateway(shared);
    const second = await startTestGateway(shared);
    const proxy = new Proxy(portOf(first));
    let firstClosed: Promise<void> | undefined;
    try {
      const sdk = createGatewayClient({ baseUrl: await proxy.start(), WebSocket });
      const text = readTranscript('ES2004a.txt');
      const { jobId } = await client().submit({ route: 'test/progressive', flavor: 'small', text });
      const states: JobMessage[] = [];
      let step = 0;
      for await (const state of sdk.followJob(jobId, { partial: true })) {
        states.push(state);
        if (state.status !== 'processing' || state.partial === '') continue;
        step += 1;
        if (step === 3) proxy.cut(); // network lost: no close frame
        if (step === 8) {
          proxy.targetPort = portOf(second);
          firstClosed = first.close(); // its sockets are closed with 1001
        }
      }
      expect(step).toBeGreaterThan(8);
      // The submit went to the worker gateway: every connection through the proxy was a socket.
      expect(proxy.connections).toBeGreaterThanOrEqual(3);
      const expected = predictedSummary(expectedTurnLines(text));
      expect(states.at(-1)).toEqual({
        status: 'complete',
        message: 'success',
        summarization: expected,
        usage: expect.objectContaining({ flavor: 'small' }) as unknown,
      });
      const partial = states
        .map((state) => (state.status === 'processing' ? (state.partial ?? '') : ''))
        .join('');
      expect(partial).toBe(`${expected}\n`);
    } finally {
      await proxy.stop();
      await (firstClosed ?? first.close());
      await second.close();
    }
  });
});

describe('SDK with API keys', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ env: { API_KEYS: 'key-one' } });
  });
  afterAll(() => gateway.close());

  it('sends the key over HTTP and as ?api_key= on the WebSocket', async () => {
    const sdk = createGatewayClient({ baseUrl: gateway.baseUrl, apiKey: 'key-one', WebSocket });
    expect((await sdk.listServices()).length).toBeGreaterThan(0);
    const { jobId } = await sdk.submit({ route: 'summarize/en', flavor: 'llama', text: 'Alice : hi' });
    for await (const state of sdk.followJob(jobId)) {
      expect(state.status).toBe('queued'); // no worker in this gateway
      break;
    }
  });

  it('a wrong key is a GatewayHttpError 401, also when following a job', async () => {
    const sdk = createGatewayClient({ baseUrl: gateway.baseUrl, apiKey: 'wrong', WebSocket });
    await expect(sdk.listServices()).rejects.toMatchObject({
      status: 401,
      detail: 'Invalid or missing API key',
    });
    const follow = async () => {
      for await (const state of sdk.followJob('any-id')) return state;
      return undefined;
    };
    await expect(follow()).rejects.toMatchObject({ status: 401 });
  });
});
