// Realtime figures (npm run bench). N clients (BENCH_SOCKETS, default 2,000) follow running jobs
// on one API process (ROLE=api, its own process) while a worker process runs them against the LLM
// simulator. For every state a client receives, the delay is measured from the worker's progress
// update, as stamped by Redis on the queue's event stream (the entry id is Redis's clock in ms), to
// its arrival at the client. Ours: one WebSocket per client (`WS /ws/results/<id>`). Baseline, v1's
// way: each client polls `GET /results/<id>` every WS_POLLING_INTERVAL seconds.
import { readFileSync } from 'node:fs';
import { QueueKeys } from 'bullmq';
import Redis from 'ioredis';
import { WebSocket } from 'ws';
import { SUMMARIZATION_QUEUE } from '../src/jobs/job-payload';
import { jobStatusBody, readJobProgress } from '../src/jobs/job-status.util';
import { startTestGateway, type TestGateway } from '../test/support/gateway';
import { LlmSimulator } from '../test/support/llm-simulator';
import { installTestServices, readTranscript, submit } from '../test/support/pipeline-fixtures';
import { startApiProcess, startGatewayProcess, stopProcess } from '../test/support/processes';
import { startRedisServer } from '../test/support/redis-server';

const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 2_000);
const JOBS = 20;
const LATENCY_MS = 300;
const POLLING_INTERVAL_SECONDS = 3;
/** Jobs arriving this far apart do not all reach the LLM in the same millisecond. */
const STAGGER_MS = 37;
/** The queue's event stream, named by BullMQ's own key builder. */
const EVENTS_STREAM = new QueueKeys().toKey(SUMMARIZATION_QUEUE, 'events');

interface Phase {
  delaysMs: number[];
  /** Announced states a client saw as such / only through a later state. */
  seenExactly: number;
  skipped: number;
  memoryPerClientKb?: number;
  /** CPU the API process used while the jobs ran, and the wall time they took. */
  apiCpuMs: number;
  wallMs: number;
}

/** Orders the states a client is told of: processing by percent, then the end. */
const COMPLETE_RANK = 101;

/** The moment (Redis clock, ms) each (job, rank) was first announced on the event stream. */
class StreamClock {
  private readonly announcedAt = new Map<string, Map<number, number>>();
  private readonly reader: Redis;
  private isRunning = true;
  private readonly loop: Promise<void>;

  constructor(redisUrl: string) {
    this.reader = new Redis(redisUrl);
    this.loop = this.read();
  }

  async stop(): Promise<void> {
    this.isRunning = false;
    await this.loop;
    this.reader.disconnect();
  }

  private async read(): Promise<void> {
    let lastId = '$';
    while (this.isRunning) {
      const batch = await this.reader.xread('BLOCK', 200, 'STREAMS', EVENTS_STREAM, lastId);
      for (const [, entries] of batch ?? []) {
        for (const [id, fields] of entries) {
          lastId = id;
          const record: Record<string, string> = {};
          for (let index = 0; index + 1 < fields.length; index += 2)
            record[fields[index] ?? ''] = fields[index + 1] ?? '';
          const at = Number(id.split('-')[0]);
          if (record.event === 'completed') this.announce(record.jobId ?? '', COMPLETE_RANK, at);
          if (record.event !== 'progress') continue;
          const body = jobStatusBody(
            { state: 'active', progress: readJobProgress(JSON.parse(record.data ?? 'null')) },
            0,
            1,
          );
          if (body.status !== 'processing') continue;
          this.announce(record.jobId ?? '', Number(body.progress), at);
        }
      }
    }
  }

  /** Announcements of one job: rank → first time. */
  ofJob(jobId: string): Map<number, number> {
    return this.announcedAt.get(jobId) ?? new Map<number, number>();
  }

  private announce(jobId: string, rank: number, at: number): void {
    const ofJob = this.announcedAt.get(jobId) ?? new Map<number, number>();
    if (!ofJob.has(rank)) ofJob.set(rank, at);
    this.announcedAt.set(jobId, ofJob);
  }
}

/** User + system CPU time of a process so far (Linux: /proc/<pid>/stat, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssKb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `lockstep`: every job is queued and every client connected before the worker starts, so the 20
 * jobs advance together and each update is a burst of SOCKETS messages (the worst case; the API
 * process's memory per idle client is read there). `staggered`: the worker runs and jobs arrive
 * STAGGER_MS apart, each client connecting right after its job is submitted, as real clients do.
 */
async function runPhase(
  mode: 'websocket' | 'polling',
  arrival: 'lockstep' | 'staggered',
  files: TestGateway,
  simulator: LlmSimulator,
): Promise<Phase> {
  const env = {
    SERVICES_BROKER: files.redisUrl,
    OPENAI_API_BASE: simulator.baseUrl,
    WS_POLLING_INTERVAL: String(POLLING_INTERVAL_SECONDS),
    LOG_LEVEL: 'warn',
  };
  const api = await startApiProcess(files.root, env);
  const clock = new StreamClock(files.redisUrl);
  const text = readTranscript('ES2004a.txt');
  // Per client, the ranks it was told of, in arrival order.
  const arrivals: { rank: number; at: number }[][] = Array.from({ length: SOCKETS }, () => []);
  const finished = new Set<number>();
  const record = (client: number, body: { status?: string; progress?: string }) => {
    const at = Date.now();
    if (body.status === 'processing') arrivals[client]?.push({ rank: Number(body.progress), at });
    if (body.status === 'complete' || body.status === 'error') {
      if (!finished.has(client)) arrivals[client]?.push({ rank: COMPLETE_RANK, at });
      finished.add(client);
    }
  };
  const sockets: WebSocket[] = [];
  const timers: NodeJS.Timeout[] = [];
  const follow = async (client: number, jobId: string) => {
    if (mode === 'websocket') {
      const socket = new WebSocket(`${api.baseUrl.replace('http', 'ws')}/ws/results/${jobId}`);
      socket.on('message', (data: Buffer) => record(client, JSON.parse(data.toString()) as object));
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      return;
    }
    const poll = async () => {
      if (finished.has(client)) return;
      const response = await fetch(`${api.baseUrl}/results/${jobId}`).catch(() => undefined);
      if (response) record(client, (await response.json()) as object);
    };
    // Clients poll from a random moment on, then at v1's pace.
    const startTimer = setTimeout(
      () => {
        void poll();
        timers.push(setInterval(() => void poll(), POLLING_INTERVAL_SECONDS * 1000));
      },
      Math.random() * POLLING_INTERVAL_SECONDS * 1000,
    );
    timers.push(startTimer);
  };
  const clientsOf = (job: number) =>
    Array.from({ length: SOCKETS }, (_, client) => client).filter((client) => client % JOBS === job);
  const startWorker = () =>
    startGatewayProcess(files.root, {
      ...env,
      ROLE: 'worker',
      CONCURRENCY: String(JOBS),
      MAX_CONCURRENT_INFERENCES: String(JOBS),
    });

  const jobIds: string[] = [];
  let memoryPerClientKb: number | undefined;
  let worker;
  if (arrival === 'lockstep') {
    jobIds.push(
      ...(await Promise.all(Array.from({ length: JOBS }, () => submit(api, 'test/progressive', text)))),
    );
    await sleep(1_000);
    const rssBeforeKb = rssKb(api.child.pid ?? 0);
    for (let job = 0; job < JOBS; job += 1) {
      await Promise.all(clientsOf(job).map((client) => follow(client, jobIds[job] ?? '')));
    }
    await sleep(2_000);
    memoryPerClientKb = (rssKb(api.child.pid ?? 0) - rssBeforeKb) / SOCKETS;
    worker = startWorker();
  } else {
    worker = startWorker();
    for (let job = 0; job < JOBS; job += 1) {
      const jobId = await submit(api, 'test/progressive', text);
      jobIds.push(jobId);
      await Promise.all(clientsOf(job).map((client) => follow(client, jobId)));
      await sleep(STAGGER_MS);
    }
  }
  const cpuAtStartMs = cpuMs(api.child.pid ?? 0);
  const startedAt = Date.now();
  const deadline = Date.now() + 180_000;
  while (finished.size < SOCKETS && Date.now() < deadline) await sleep(100);
  if (finished.size < SOCKETS)
    throw new Error(`${mode}: ${SOCKETS - finished.size} clients never saw the end`);

  timers.forEach((timer) => clearTimeout(timer));
  sockets.forEach((socket) => socket.close());
  await clock.stop();
  const apiCpuMs = cpuMs(api.child.pid ?? 0) - cpuAtStartMs;
  const wallMs = Date.now() - startedAt;
  await stopProcess(worker);
  await stopProcess(api.child);

  const delaysMs: number[] = [];
  let seenExactly = 0;
  let skipped = 0;
  for (let client = 0; client < SOCKETS; client += 1) {
    const received = arrivals[client] ?? [];
    for (const [rank, announcedAt] of clock.ofJob(jobIds[client % JOBS] ?? '')) {
      const first = received.find((arrival) => arrival.rank >= rank);
      if (!first) throw new Error(`${mode}: client ${client} never learned of state ${rank}`);
      if (first.rank === rank) seenExactly += 1;
      else skipped += 1;
      delaysMs.push(Math.max(0, first.at - announcedAt));
    }
  }
  return {
    delaysMs,
    seenExactly,
    skipped,
    apiCpuMs,
    wallMs,
    ...(memoryPerClientKb === undefined ? {} : { memoryPerClientKb }),
  };
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const redis = await startRedisServer();
  process.env.TEST_REDIS_URL = redis.url;
  const simulator = await new LlmSimulator({ latencyMs: LATENCY_MS }).start();
  // Holds the shared files (test services, prompts); the API and worker under test are processes.
  const files = await startTestGateway({ seedSamples: false, env: { LOG_LEVEL: 'warn' } });
  try {
    await installTestServices(files);
    const ours = await runPhase('websocket', 'staggered', files, simulator);
    const baseline = await runPhase('polling', 'staggered', files, simulator);
    const lockstep = await runPhase('websocket', 'lockstep', files, simulator);
    const sorted = (phase: Phase) => [...phase.delaysMs].sort((a, b) => a - b);
    const [sortedOurs, sortedBaseline, sortedLockstep] = [sorted(ours), sorted(baseline), sorted(lockstep)];
    const row = (name: string, pick: (values: number[]) => number) => {
      const ourMs = pick(sortedOurs);
      const baselineMs = pick(sortedBaseline);
      return `| ${name} | ${ourMs.toFixed(0)} ms | ${baselineMs.toFixed(0)} ms | ${(ourMs / Math.max(1, baselineMs)).toFixed(3)} | ${pick(sortedLockstep).toFixed(0)} ms |`;
    };
    const counts = (phase: Phase) => `${phase.seenExactly} / ${phase.skipped}`;
    const cpu = (phase: Phase) => `${((100 * phase.apiCpuMs) / phase.wallMs).toFixed(0)} %`;
    process.stdout.write(
      [
        `## Realtime: ${SOCKETS} clients on one API process following ${JOBS} running jobs (ES2004a, progressive, simulator at ${LATENCY_MS} ms)`,
        '',
        `Delay from the worker's update (Redis stream time) to the client knowing it (that state or a later one).`,
        `Jobs arrive ${STAGGER_MS} ms apart; the last column starts all ${JOBS} together (bursts of ${SOCKETS} messages).`,
        '',
        `| delay | ours: WebSocket push | baseline: polling GET /results every ${POLLING_INTERVAL_SECONDS} s (v1) | ratio | ours, jobs in lockstep |`,
        '| --- | --- | --- | --- | --- |',
        row('p50', (values) => percentile(values, 0.5)),
        row('p90', (values) => percentile(values, 0.9)),
        row('p99', (values) => percentile(values, 0.99)),
        row('max', (values) => values.at(-1) ?? 0),
        `| states seen / skipped (known only through a later one) | ${counts(ours)} | ${counts(baseline)} | | ${counts(lockstep)} |`,
        `| API process CPU while the jobs ran (of one core) | ${cpu(ours)} | ${cpu(baseline)} | ${(ours.apiCpuMs / Math.max(1, baseline.apiCpuMs)).toFixed(2)} | ${cpu(lockstep)} |`,
        '',
        `API process memory per open WebSocket (RSS, idle, subscribed): ${(lockstep.memoryPerClientKb ?? 0).toFixed(1)} KB`,
        '',
      ].join('\n'),
    );
  } finally {
    await files.close();
    await simulator.stop();
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${String(error)}\n`);
  process.exit(1);
});
