// `npm run fake-llm`: the LLM simulator alone, for local runs without a GPU.
// FAKE_LLM_PORT (default 9000, the port of the default OPENAI_API_BASE), FAKE_LLM_LATENCY_MS (default 300).
import { LlmSimulator } from './llm-simulator';

async function main(): Promise<void> {
  const port = Number(process.env.FAKE_LLM_PORT ?? 9000);
  const latencyMs = Number(process.env.FAKE_LLM_LATENCY_MS ?? 300);
  const simulator = await new LlmSimulator({ latencyMs }).start(port, '127.0.0.1');
  process.stdout.write(
    `LLM SIMULATOR (not a real model) listening on ${simulator.baseUrl}: answers are canned, ${latencyMs} ms latency\n`,
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
