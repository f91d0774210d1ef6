// Pipeline and tokenizer figures (npm run bench). Bmr006 in map mode against the LLM simulator at
// 200 ms per call with MAX_CONCURRENT_INFERENCES=4, compared with the critical-path limit
// ceil(batches / 4) × 200 ms; then each vocabulary's counting speed on the same transcript.
import { startTestGateway } from '../test/support/gateway';
import { LlmSimulator } from '../test/support/llm-simulator';
import { followJob, installTestServices, readTranscript, submit } from '../test/support/pipeline-fixtures';
import { startRedisServer } from '../test/support/redis-server';
import { splitTurns, turnLine } from '../src/chunking/turns.util';
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
  process.stdout.write(`${await pipelineTable()}\n${tokenizerTable()}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${String(error)}\n`);
  process.exit(1);
});
