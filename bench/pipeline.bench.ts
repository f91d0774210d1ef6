// Pipeline and tokenizer figures (npm run bench). Bmr006 in map mode against the LLM simulator at
// 200 ms per call with MAX_CONCURRENT_INFERENCES=4, compared with the critical-path limit
// ceil(batches / 4) × 200 ms; then the map step alone with balanced batches against the greedy plan
// on a simulator whose latency grows with the prompt; then each vocabulary's counting speed.
import { startTestGateway } from '../test/support/gateway';
import { LlmSimulator } from '../test/support/llm-simulator';
import { followJob, installTestServices, readTranscript, submit } from '../test/support/pipeline-fixtures';
import { startRedisServer } from '../test/support/redis-server';
import { type BatchRange, batchTokens, planBatches, planGreedyBatches } from '../src/chunking/batches.util';
import { splitTurns, turnLine } from '../src/chunking/turns.util';
import { splitLongTurns } from '../src/chunking/virtual-turns.util';
import { TOKENIZER_FAMILIES } from '../src/tokenizers/tokenizer-resolution.util';
import { TokenizersService } from '../src/tokenizers/tokenizers.service';

const LATENCY_MS = 200;
const CAP = 4;

async function pipelineTable(): Promise<string> {
  const redis = await startRedisServer();
  process.env.TEST_REDIS_URL = redis.url;
  const simulator = await new LlmSimulator({ latencyMs: LATENCY_MS }).start();
  const gateway = await startTestGateway({
    seedSamples: false,
    env: {
      ROLE: 'all',
      OPENAI_API_BASE: simulator.baseUrl,
      MAX_CONCURRENT_INFERENCES: String(CAP),
      LOG_LEVEL: 'warn',
    },
  });
  try {
    await installTestServices(gateway);
    const text = readTranscript('Bmr006.txt');
    const startedAt = performance.now();
    const final = (await followJob(gateway, await submit(gateway, 'test/map', text), 300_000)).at(-1);
    const wallMs = performance.now() - startedAt;
    if (final?.status !== 'complete') throw new Error(`the job ended as ${JSON.stringify(final)}`);
    const calls = simulator.requests.length;
    const promptTokens = simulator.requests.reduce((sum, call) => sum + call.promptTokens, 0);
    const limitMs = Math.ceil(calls / CAP) * LATENCY_MS;
    return [
      `## Pipeline: Bmr006.txt (${(text.length / 1000).toFixed(0)} KB), map mode, simulator at ${LATENCY_MS} ms, MAX_CONCURRENT_INFERENCES=${CAP}`,
      '',
      '| batches | LLM calls | prompt tokens | ours: wall time (HTTP → complete) | limit: ceil(batches / cap) × latency | ratio |',
      '| --- | --- | --- | --- | --- | --- |',
      `| ${calls} | ${calls} | ${promptTokens} | ${(wallMs / 1000).toFixed(2)} s | ${(limitMs / 1000).toFixed(2)} s | ${(wallMs / limitMs).toFixed(2)} |`,
      '',
    ].join('\n');
  } finally {
    await gateway.close();
    await simulator.stop();
    await redis.stop();
  }
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

async function main(): Promise<void> {
  process.stdout.write(`${await pipelineTable()}\n${await balancedBatchesTable()}\n${tokenizerTable()}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${String(error)}\n`);
  process.exit(1);
});
