// `npm run fake-llm`: the LLM simulator alone, for local runs without a GPU.
// FAKE_LLM_PORT (default 9000, the port of the default OPENAI_API_BASE), FAKE_LLM_LATENCY_MS (default
// 300, before any answer), FAKE_LLM_FIRST_TOKEN_MS (default 0, a streamed answer's time to first token),
// FAKE_LLM_TOKEN_MS (default 0, between two streamed words), FAKE_LLM_PROMPT_TOKEN_MS and
// FAKE_LLM_COMPLETION_TOKEN_MS (default 0, added per prompt and per answer token: latency that grows
// with the size of a call, as with a real model).
import { LlmSimulator } from './llm-simulator';

function milliseconds(name: string, defaultValue: number): number {
  const value = Number(process.env[name] ?? defaultValue);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number of milliseconds ≥ 0`);
  return value;
}

async function main(): Promise<void> {
  const port = Number(process.env.FAKE_LLM_PORT ?? 9000);
  const latencyMs = milliseconds('FAKE_LLM_LATENCY_MS', 300);
  const firstTokenMs = milliseconds('FAKE_LLM_FIRST_TOKEN_MS', 0);
  const tokenMs = milliseconds('FAKE_LLM_TOKEN_MS', 0);
  const latencyPerPromptTokenMs = milliseconds('FAKE_LLM_PROMPT_TOKEN_MS', 0);
  const latencyPerCompletionTokenMs = milliseconds('FAKE_LLM_COMPLETION_TOKEN_MS', 0);
  const simulator = await new LlmSimulator({
    latencyMs,
    firstTokenMs,
    tokenMs,
    latencyPerPromptTokenMs,
    latencyPerCompletionTokenMs,
  }).start(port, '127.0.0.1');
  process.stdout.write(
    `LLM SIMULATOR (not a real model) listening on ${simulator.baseUrl}: answers are canned, ${latencyMs} ms latency + ${latencyPerPromptTokenMs} ms per prompt token + ${latencyPerCompletionTokenMs} ms per answer token, streamed answers ${firstTokenMs} ms to first token then ${tokenMs} ms per word\n`,
  );
  const stop = () => {
    void simulator.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`fake-llm failed to start: ${String(error)}\n`);
  process.exit(1);
});
