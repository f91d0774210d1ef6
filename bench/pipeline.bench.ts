// Pipeline and tokenizer figures (npm run bench). Bmr006 in map mode with the sample manifests'
// small batches against the LLM simulator at 200 ms per call with MAX_CONCURRENT_INFERENCES=4
// (gateway and simulator each a process of their own), compared with the critical-path limit
// ceil(batches / 4) × 200 ms; then the map step alone with balanced batches against the greedy plan
// on a simulator whose latency grows with the prompt; then each vocabulary's counting speed; then
// /healthcheck latency of a ROLE=all gateway process while it splits a ~19 MB upload, with the
// split threads (SPLIT_THREADS=1) and without (SPLIT_THREADS=0).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../test/support/gateway';
import { startGatewayProcess, stopProcess } from '../test/support/processes';
import { LlmSimulator, type LoggedRequest } from '../test/support/llm-simulator';
import { SMALL_FLAVOR, installTestServices, readTranscript, submit } from '../test/support/pipeline-fixtures';
import { findFreePort, startRedisServer } from '../test/support/redis-server';
import { type BatchRange, batchTokens, planBatches, planGreedyBatches } from '../src/chunking/batches.util';
import { splitTurns, turnLine } from '../src/chunking/turns.util';
import { splitLongTurns } from '../src/chunking/virtual-turns.util';
import { TOKENIZER_FAMILIES } from '../src/tokenizers/tokenizer-resolution.util';
import { TokenizersService } from '../src/tokenizers/tokenizers.service';
import { openJobFollower, startBenchGatewayProcess } from './gateway-process';
import { startSimulatorProcess } from './simulator-process';

const LATENCY_MS = 200;
const CAP = 4;

/**
 * Bmr006 in map mode with the sample manifests' small batches (SMALL_FLAVOR: maxNewTurns 9):
 * our gateway in a process of its own, the simulator in another, medians of RUNS jobs.
 */
async function pipelineTable(): Promise<string> {
  const redis = await startRedisServer();
  const simulator = await startSimulatorProcess({ latencyMs: LATENCY_MS });
  const gateway = await startBenchGatewayProcess({
    ROLE: 'all',
    SERVICES_BROKER: redis.url,
    OPENAI_API_BASE: simulator.baseUrl,
    MAX_CONCURRENT_INFERENCES: String(CAP),
  });
  try {
    await installTestServices(gateway);
    const text = readTranscript('Bmr006.txt');
    const follower = await openJobFollower(gateway.baseUrl);
    const runJob = async () => {
      const startedAt = performance.now();
      await follower.follow(await submit(gateway, 'test/map', text));
      return performance.now() - startedAt;
    };
    const wallTimes: number[] = [];
    let calls: LoggedRequest[] = [];
    try {
      await runJob(); // warm-up: vocabularies, JIT
      let requestsRead = (await simulator.requestsFrom(0)).length;
      for (let run = 0; run < RUNS; run += 1) {
        wallTimes.push(await runJob());
        calls = await simulator.requestsFrom(requestsRead);
        requestsRead += calls.length;
      }
    } finally {
      follower.close();
    }
    const wallMs = median(wallTimes);
    const { callMs, turnaroundMs } = callTimings(calls, CAP);
    const promptTokens = calls.reduce((sum, call) => sum + call.promptTokens, 0);
    const limitMs = Math.ceil(calls.length / CAP) * LATENCY_MS;
    return [
      `## Pipeline: Bmr006.txt (${(text.length / 1000).toFixed(0)} KB), map mode, small batches (maxNewTurns ${SMALL_FLAVOR.maxNewTurns}), simulator at ${LATENCY_MS} ms, MAX_CONCURRENT_INFERENCES=${CAP}, median of ${RUNS} jobs (gateway, simulator: a process each)`,
      '',
      '| batches | LLM calls | prompt tokens | ours: wall time (HTTP → complete on the results socket) | limit: ceil(batches / cap) × latency | ratio | a call at the simulator, median | a slot from an answer to its next call, median |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      `| ${calls.length} | ${calls.length} | ${promptTokens} | ${(wallMs / 1000).toFixed(2)} s | ${(limitMs / 1000).toFixed(2)} s | ${(wallMs / limitMs).toFixed(2)} | ${callMs.toFixed(1)} ms | ${turnaroundMs.toFixed(1)} ms |`,
      '',
    ].join('\n');
  } finally {
    await gateway.close();
    await simulator.stop();
    await redis.stop();
  }
}

/**
 * Where a round's time goes, from the simulator's log: how long a call stayed at the simulator
 * (received → last byte handed to the socket), and how long a slot took from an answer to its next
 * call (the k-th answer frees the slot of the (k + cap)-th call, in order).
 */
function callTimings(calls: readonly LoggedRequest[], cap: number): { callMs: number; turnaroundMs: number } {
  const received = calls.map((call) => call.receivedAt).sort((a, b) => a - b);
  const answered = calls.map((call) => call.answeredAt ?? Number.NaN).sort((a, b) => a - b);
  const turnarounds = answered
    .slice(0, Math.max(0, received.length - cap))
    .map((answeredAt, index) => (received[index + cap] ?? Number.NaN) - answeredAt);
  return {
    callMs: median(calls.map((call) => (call.answeredAt ?? Number.NaN) - call.receivedAt)),
    turnaroundMs: median(turnarounds),
  };
}

/** Prefill-bound latency: 50 ms per call plus 0.1 ms per prompt token (2,000 tokens → 250 ms). */
const FIXED_MS = 50;
const PER_PROMPT_TOKEN_MS = 0.1;
const BATCH_BUDGET_TOKENS = 2000;
const RUNS = 3;

/** The map step alone: each batch's prompt sent as one call, `CAP` at once, as parallelMap does. */
async function mapOnce(
  baseUrl: string,
  lines: readonly string[],
  batches: readonly BatchRange[],
): Promise<number> {
  const pending = [...batches];
  const startedAt = performance.now();
  const runNext = async (): Promise<void> => {
    for (let batch = pending.shift(); batch; batch = pending.shift()) {
      const content = `Summarize each turn.\n${lines.slice(batch.start, batch.end).join('\n')}`;
      const response = await fetch(`${baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'small-model',
          max_tokens: 500,
          messages: [{ role: 'user', content }],
        }),
      });
      if (!response.ok) throw new Error(`the simulator answered ${response.status}`);
      await response.text();
    }
  };
  await Promise.all(Array.from({ length: CAP }, runNext));
  return performance.now() - startedAt;
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function balancedBatchesTable(): Promise<string> {
  const tokenizer = new TokenizersService().family('cl100k_base');
  const lines = splitLongTurns(splitTurns(readTranscript('Bmr006.txt')), 120, tokenizer).map(turnLine);
  const counts = lines.map((line) => tokenizer.count(line));
  const plans = [
    {
      name: 'greedy (baseline)',
      batches: planGreedyBatches(counts, BATCH_BUDGET_TOKENS, 100, tokenizer.joinerTokens),
    },
    {
      name: 'balanced (ours)',
      batches: planBatches(counts, BATCH_BUDGET_TOKENS, 100, tokenizer.joinerTokens),
    },
  ];
  const simulator = await new LlmSimulator({
    latencyMs: FIXED_MS,
    latencyPerPromptTokenMs: PER_PROMPT_TOKEN_MS,
  }).start();
  try {
    const wallMs = plans.map(() => [] as number[]);
    // Alternating runs, so a slower moment of the machine weighs on both plans.
    for (let run = 0; run < RUNS; run += 1) {
      for (const [index, plan] of plans.entries())
        wallMs[index]?.push(await mapOnce(simulator.baseUrl, lines, plan.batches));
    }
    const rows = plans.map((plan, index) => {
      const sizes = plan.batches.map((batch) => batchTokens(counts, batch, tokenizer.joinerTokens));
      return { ...plan, sizes, wallMs: median(wallMs[index] ?? []) };
    });
    const [baseline, ours] = rows;
    if (!baseline || !ours) throw new Error('two plans expected');
    return [
      `## Balanced map batches: Bmr006.txt, ${BATCH_BUDGET_TOKENS}-token budget (cl100k_base), ${CAP} calls at once, simulator at ${FIXED_MS} ms + ${PER_PROMPT_TOKEN_MS} ms per prompt token, median of ${RUNS} alternating runs`,
      '',
      '| plan | batches | biggest batch (tokens) | smallest batch (tokens) | wall time of the map |',
      '| --- | --- | --- | --- | --- |',
      ...rows.map(
        (row) =>
          `| ${row.name} | ${row.batches.length} | ${Math.max(...row.sizes)} | ${Math.min(...row.sizes)} | ${(row.wallMs / 1000).toFixed(2)} s |`,
      ),
      '',
      '| ours: balanced | baseline: greedy | ratio |',
      '| --- | --- | --- |',
      `| ${(ours.wallMs / 1000).toFixed(2)} s | ${(baseline.wallMs / 1000).toFixed(2)} s | ${(ours.wallMs / baseline.wallMs).toFixed(2)} |`,
      '',
    ].join('\n');
  } finally {
    await simulator.stop();
  }
}

function tokenizerTable(): string {
  const lines = splitTurns(readTranscript('Bmr006.txt')).map(turnLine);
  const megabytes = Buffer.byteLength(lines.join('\n')) / 1e6;
  const service = new TokenizersService();
  const rows = TOKENIZER_FAMILIES.map((family) => {
    const loadStart = performance.now();
    const tokenizer = service.family(family);
    const loadMs = performance.now() - loadStart;
    tokenizer.count(lines[0] ?? ''); // warm-up
    const runs = 3;
    const start = performance.now();
    let tokens = 0;
    for (let run = 0; run < runs; run += 1)
      tokens = lines.reduce((sum, line) => sum + tokenizer.count(line), 0);
    const perTranscriptMs = (performance.now() - start) / runs;
    return `| ${family} | ${tokens} | ${(megabytes / (perTranscriptMs / 1000)).toFixed(1)} MB/s | ${perTranscriptMs.toFixed(0)} ms | ${loadMs.toFixed(0)} ms | ${(perTranscriptMs / LATENCY_MS).toFixed(2)} |`;
  });
  return [
    `## Tokenizers: counting Bmr006.txt turn by turn (${lines.length} turns, as the pipeline does)`,
    '',
    `| vocabulary | tokens | throughput | ours: time per transcript | load (first use) | ratio to one LLM round (${LATENCY_MS} ms) |`,
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

/** One /healthcheck probe every PROBE_INTERVAL_MS, each timed from when it was sent. */
const PROBE_INTERVAL_MS = 10;
const UPLOAD_BYTES = 19e6;

interface HealthWindow {
  uploadMs: number;
  splitMs: number;
  /** Latencies of the probes sent while the upload was received and queued. */
  duringUpload: number[];
  /** Latencies of the probes sent from the job's acceptance to its first LLM call (the split). */
  duringSplit: number[];
  /** Probes that got no answer (connection reset by a gateway whose event loop was held). */
  failedProbeCount: number;
}

/**
 * A ROLE=all gateway as its own process (dist/main.js), probed from this one: a blocked event
 * loop shows as the latency of every probe sent meanwhile. Probes are sent at a fixed rate, not
 * one after another, so that a long block is counted once per probe it delays.
 */
async function healthWhileSplitting(splitThreads: number, text: string): Promise<HealthWindow> {
  const redis = await startRedisServer();
  // A process of its own: in this one, its first request (it loads a vocabulary, ~0.1 s) held the
  // event loop that reads the probes' answers, and counted against the gateway.
  const simulator = await startSimulatorProcess({ latencyMs: 1_000 });
  const root = mkdtempSync(join(tmpdir(), 'bench-health-'));
  mkdirSync(join(root, '.hydra-conf', 'services'), { recursive: true });
  mkdirSync(join(root, 'prompts'));
  writeFileSync(join(root, 'prompts', 'map.txt'), 'Turns:\n{}\n\nOne line per turn.');
  const flavor = Object.entries(SMALL_FLAVOR)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
    .join('\n      ');
  writeFileSync(
    join(root, '.hydra-conf', 'services', 'test.yaml'),
    `test/map:\n  type: summary\n  fields: 1\n  name: map\n  flavor:\n    - ${flavor}\n`,
  );
  const port = await findFreePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = startGatewayProcess(root, {
    ROLE: 'all',
    HTTP_PORT: String(port),
    SERVICES_BROKER: redis.url,
    OPENAI_API_BASE: simulator.baseUrl,
    SPLIT_THREADS: String(splitThreads),
    LOG_LEVEL: 'warn',
  });
  try {
    await waitFor(
      async () =>
        (
          await fetch(`${baseUrl}/services`).then(
            (r) => r.text(),
            () => '',
          )
        ).includes('test/map'),
      30_000,
      'the gateway process',
    );
    const probes: { sentAt: number; latencyMs: number }[] = [];
    let failedProbeCount = 0;
    const inFlight = new Set<Promise<void>>();
    const timer = setInterval(() => {
      const sentAt = performance.now();
      const probe = fetch(`${baseUrl}/healthcheck`)
        .then((response) => response.text())
        .then(() => {
          probes.push({ sentAt, latencyMs: performance.now() - sentAt });
        })
        // Counted, not thrown: an unhandled rejection ended the bench and left the gateway running.
        .catch(() => {
          failedProbeCount += 1;
        })
        .finally(() => inFlight.delete(probe));
      inFlight.add(probe);
    }, PROBE_INTERVAL_MS);
    const uploadStart = performance.now();
    let jobId = '';
    let accepted = uploadStart;
    let firstCall = uploadStart;
    try {
      jobId = await submit({ baseUrl }, 'test/map', text);
      accepted = performance.now();
      await waitFor(async () => (await simulator.requestsFrom(0)).length > 0, 120_000, 'the first LLM call');
      firstCall = performance.now();
    } finally {
      clearInterval(timer);
      await Promise.allSettled([...inFlight]);
    }
    if (jobId !== '') await fetch(`${baseUrl}/results/${jobId}`, { method: 'DELETE' });
    const between = (from: number, to: number) =>
      probes.filter((probe) => probe.sentAt >= from && probe.sentAt < to).map((probe) => probe.latencyMs);
    return {
      uploadMs: accepted - uploadStart,
      splitMs: firstCall - accepted,
      duringUpload: between(uploadStart, accepted),
      duringSplit: between(accepted, firstCall),
      failedProbeCount,
    };
  } finally {
    await stopProcess(child);
    await simulator.stop();
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

const percentile = (values: readonly number[], fraction: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] ?? Number.NaN;
};

async function healthTable(): Promise<string> {
  const fixtures = TRANSCRIPT_FILES.map(readTranscript).join('\n');
  const text = Array.from({ length: Math.ceil(UPLOAD_BYTES / fixtures.length) }, () => fixtures).join('\n');
  const ours = await healthWhileSplitting(1, text);
  const baseline = await healthWhileSplitting(0, text);
  const row = (name: string, window: HealthWindow) =>
    `| ${name} | ${(window.splitMs / 1000).toFixed(2)} s | ${window.duringSplit.length}${window.failedProbeCount > 0 ? ` (${window.failedProbeCount} more failed)` : ''} | ${percentile(window.duringSplit, 0.5).toFixed(1)} ms | ${percentile(window.duringSplit, 0.99).toFixed(1)} ms | ${Math.max(...window.duringSplit).toFixed(0)} ms | ${(window.uploadMs / 1000).toFixed(2)} s | ${percentile(window.duringUpload, 0.99).toFixed(1)} ms |`;
  const ourP99 = percentile(ours.duringSplit, 0.99);
  const baselineP99 = percentile(baseline.duringSplit, 0.99);
  return [
    `## /healthcheck while a ${(Buffer.byteLength(text) / 1e6).toFixed(1)} MB job is split: ROLE=all gateway process, one probe every ${PROBE_INTERVAL_MS} ms from another process`,
    '',
    '| gateway | split (job accepted → first LLM call) | probes | p50 | p99 | max | upload (POST → jobId) | p99 during upload |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    row('ours: SPLIT_THREADS=1', ours),
    row('baseline: SPLIT_THREADS=0 (on the event loop)', baseline),
    '',
    '| ours: p99 while splitting | baseline: p99 while splitting | ratio | target |',
    '| --- | --- | --- | --- |',
    `| ${ourP99.toFixed(1)} ms | ${baselineP99.toFixed(1)} ms | ${(ourP99 / baselineP99).toFixed(3)} | < 50 ms |`,
    '',
  ].join('\n');
}

const TRANSCRIPT_FILES = ['Bmr006.txt', 'ES2004a.txt', 'education_4.txt'];

async function main(): Promise<void> {
  // `--health-only` runs the /healthcheck table alone, `--pipeline-only` the first table alone.
  if (process.argv.includes('--health-only')) {
    process.stdout.write(`${await healthTable()}\n`);
    return;
  }
  if (process.argv.includes('--pipeline-only')) {
    process.stdout.write(`${await pipelineTable()}\n`);
    return;
  }
  process.stdout.write(`${await pipelineTable()}\n${await balancedBatchesTable()}\n${tokenizerTable()}\n`);
  process.stdout.write(`${await healthTable()}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${String(error)}\n`);
  process.exit(1);
});
