import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import {
  createPrivateNetwork,
  type NetworkHost,
  type PrivateNetwork,
  privateNetworkUnavailableReason,
} from './support/network-hosts';
import {
  expectedTurnLines,
  followJob,
  installTestServices,
  predictedSummary,
  readTranscript,
  type ResultBody,
  submit,
} from './support/pipeline-fixtures';
import { startGatewayProcess, stopProcess } from './support/processes';
import { waitForRedis } from './support/redis-server';

/*
 * Scale-out across hosts, not only processes: Redis, two API processes and two workers, each on a
 * host of its own (a network namespace) on one private link; this process is a host too, serving
 * the LLM simulator and acting as the client. A worker host loses its link mid-job (its process
 * keeps running, as on a partitioned machine) and the job completes on the other.
 */

const unavailable = privateNetworkUnavailableReason();
if (unavailable !== undefined) {
  process.stdout.write(`cross-host.e2e-spec: skipped, ${unavailable}\n`);
}
const describeWithHosts = unavailable === undefined ? describe : describe.skip;

const HOST_NAMES = ['redis', 'api-1', 'api-2', 'worker-a', 'worker-b'] as const;
const REDIS_PORT = 6379;
const HTTP_PORT = 8000;
/** Short, so that a lost worker's job moves on within a few seconds (stalled check every lock period). */
const JOB_LOCK_SECONDS = '1';

interface ApiProcess {
  baseUrl: string;
  child: ChildProcess;
}

describeWithHosts('scale-out across hosts (network namespaces on a private link)', () => {
  let network: PrivateNetwork | undefined;
  let simulator: LlmSimulator | undefined;
  let root: string | undefined;
  const children: ChildProcess[] = [];
  const api: ApiProcess[] = [];
  const workers: { host: NetworkHost; child: ChildProcess }[] = [];

  beforeAll(async () => {
    const workingDirectory = mkdtempSync(join(tmpdir(), 'gateway-cross-host-'));
    root = workingDirectory;
    mkdirSync(join(workingDirectory, '.hydra-conf', 'services'), { recursive: true });
    mkdirSync(join(workingDirectory, 'prompts'));
    const hosts = createPrivateNetwork(HOST_NAMES);
    network = hosts;
    simulator = await new LlmSimulator().start(0, hosts.localAddress);

    const redisHost = hosts.host('redis');
    // Bound to its link address only; no password, so protected mode must be off for other hosts.
    const redisArgs = ['--bind', redisHost.address, '--port', String(REDIS_PORT), '--protected-mode', 'no'];
    const redisServer = redisHost.launch('redis-server', [...redisArgs, '--save', '', '--appendonly', 'no'], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(redisServer);
    await waitForRedis(REDIS_PORT, redisHost.address);
    const shared = {
      SERVICES_BROKER: `redis://${redisHost.address}:${REDIS_PORT}/0`,
      OPENAI_API_BASE: simulator.baseUrl,
      HTTP_PORT: String(HTTP_PORT),
    };

    for (const name of ['api-1', 'api-2'] as const) {
      const host = hosts.host(name);
      const child = startGatewayProcess(
        workingDirectory,
        { ...shared, ROLE: 'api', HOST: host.address },
        host.launch,
      );
      children.push(child);
      api.push({ baseUrl: `http://${host.address}:${HTTP_PORT}`, child });
    }
    for (const name of ['worker-a', 'worker-b'] as const) {
      const host = hosts.host(name);
      const child = startGatewayProcess(
        workingDirectory,
        {
          ...shared,
          ROLE: 'worker',
          HOST: host.address,
          JOB_LOCK_SECONDS,
          MAX_RETRY_DELAY: '0.05',
        },
        host.launch,
      );
      children.push(child);
      workers.push({ host, child });
    }

    const [api1, api2] = api as [ApiProcess, ApiProcess];
    for (const { baseUrl, child } of api) await waitUntilAnswers(`${baseUrl}/healthcheck`, child);
    await installTestServices({ root: workingDirectory, baseUrl: api1.baseUrl });
    await waitFor(
      async () => (await (await fetch(`${api2.baseUrl}/services`)).text()).includes('test/map'),
      15_000,
      'the test services on API host 2',
    );
    // Ready means Redis and the LLM answer, both across the link.
    for (const { host, child } of workers)
      await waitUntilAnswers(`http://${host.address}:${HTTP_PORT}/health/ready`, child);
  }, 60_000);

  afterAll(async () => {
    try {
      // By pid, SIGKILL: a process whose link is down could not hand anything back anyway.
      await Promise.all(children.splice(0).map((child) => stopProcess(child, 'SIGKILL')));
      await simulator?.stop();
    } finally {
      if (root) rmSync(root, { recursive: true, force: true });
      network?.destroy();
    }
  }, 15_000);

  it('a job submitted through API host 2 is read and followed through API host 1: one queue', async () => {
    const [api1, api2] = api as [ApiProcess, ApiProcess];
    const text = 'Alice: we ship on Friday after the review\nBob: then the demo moves to Monday';
    const jobId = await submit(api2, 'test/map', text);
    const firstRead = await fetch(`${api1.baseUrl}/results/${jobId}`);
    expect([200, 202]).toContain(firstRead.status); // known at once, never 404
    const final = (await followJob(api1, jobId, 15_000)).at(-1);
    expect(final?.status).toBe('complete');
    expect(final?.summarization).toBe(predictedSummary(expectedTurnLines(text)));
  });

  it('a worker host cut off mid-job (its process still running) loses the job to the other host, which resumes it from its checkpoint', async () => {
    const running = simulator as LlmSimulator;
    const [api1, api2] = api as [ApiProcess, ApiProcess];
    running.latencyMs = 150;
    const firstCall = running.requests.length;
    const text = readTranscript('ES2004a.txt');
    const jobId = await submit(api1, 'test/progressive', text);

    await waitFor(
      async () => {
        const state = (await (await fetch(`${api1.baseUrl}/results/${jobId}`)).json()) as ResultBody;
        return state.status === 'processing' && running.requests.length - firstCall >= 3;
      },
      20_000,
      'the job to be processing with three calls made',
    );
    const jobCalls = () => running.requests.slice(firstCall);
    const callers = new Set(jobCalls().map((call) => call.clientAddress));
    expect(callers.size).toBe(1); // one worker holds the job
    const owner = workers.find(({ host }) => callers.has(host.address));
    const other = workers.find((worker) => worker !== owner);
    if (!owner || !other) throw new Error(`the job's calls came from ${[...callers].join(', ')}`);

    owner.host.cutLink();
    const cutAt = Date.now();
    const callsBeforeCut = jobCalls().length;

    const final = (await followJob(api2, jobId, 30_000)).at(-1);
    const completedAfterMs = Date.now() - cutAt;
    expect(final?.status).toBe('complete');
    expect(final?.summarization).toBe(predictedSummary(expectedTurnLines(text)));

    const callsAfterCut = jobCalls().slice(callsBeforeCut);
    expect(callsAfterCut.length).toBeGreaterThan(0);
    expect(new Set(callsAfterCut.map((call) => call.clientAddress))).toEqual(new Set([other.host.address]));
    // Resumed, not restarted: the other host never sends the job's first batch again.
    const prompts = jobCalls().map((call) => call.prompt);
    expect(callsAfterCut.map((call) => call.prompt)).not.toContain(prompts[0]);
    expect(prompts.filter((prompt, index) => prompts.indexOf(prompt) !== index).length).toBeLessThanOrEqual(
      1,
    );
    // Partitioned, not dead: the cut-off worker is still running.
    expect(owner.child.exitCode).toBeNull();
    expect(owner.child.signalCode).toBeNull();
    const resumedAfterMs = (callsAfterCut[0]?.receivedAt ?? Number.NaN) - cutAt;
    process.stdout.write(
      `cross-host: job ${jobId} on ${owner.host.name} (${callsBeforeCut} calls), link cut, resumed on ` +
        `${other.host.name} ${resumedAfterMs} ms later, completed there (${callsAfterCut.length} calls) ` +
        `${completedAfterMs} ms after the cut (JOB_LOCK_SECONDS ${JOB_LOCK_SECONDS})\n`,
    );
  }, 45_000);
});

/** Waits until `url` answers 2xx; fails at once when `child`, the process serving it, has exited. */
async function waitUntilAnswers(url: string, child: ChildProcess): Promise<void> {
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`the process for ${url} exited with ${child.exitCode}`);
      return fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
        (response) => response.ok,
        () => false,
      );
    },
    20_000,
    `${url} to answer`,
  );
}
