// The LLM simulator in a process of its own, started by bench/simulator-process.ts: an LLM server
// runs on its own machine, so its CPU (building and sending each word's chunk) must not be paid by
// the event loop of the gateway or the peer it serves. Options come in BENCH_SIMULATOR_OPTIONS
// (JSON); the request log is read over IPC.
import { LlmSimulator, type LlmSimulatorOptions } from '../test/support/llm-simulator';

export type SimulatorMessage = { kind: 'requests'; id: number; from: number };
export type SimulatorReply =
  { kind: 'ready'; baseUrl: string } | { kind: 'requests'; id: number; requests: LlmSimulator['requests'] };

async function main(): Promise<void> {
  const options = JSON.parse(process.env.BENCH_SIMULATOR_OPTIONS ?? '{}') as LlmSimulatorOptions;
  const simulator = await new LlmSimulator(options).start();
  const send = (reply: SimulatorReply) => process.send?.(reply);
  process.on('message', (message: SimulatorMessage) => {
    send({ kind: 'requests', id: message.id, requests: simulator.requests.slice(message.from) });
  });
  // The parent gone (or done): stop.
  process.once('disconnect', () => {
    void simulator.stop().then(() => process.exit(0));
  });
  send({ kind: 'ready', baseUrl: simulator.baseUrl });
}

main().catch((error: unknown) => {
  process.stderr.write(`the simulator process failed: ${String(error)}\n`);
  process.exit(1);
});
