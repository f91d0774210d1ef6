import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { LlmSimulatorOptions, LoggedRequest } from '../test/support/llm-simulator';
import type { SimulatorMessage, SimulatorReply } from './simulator.child';

/** The LLM simulator in its own process (bench/simulator.child.ts), its request log read over IPC. */
export interface SimulatorProcess {
  baseUrl: string;
  /** The calls the simulator received from the `from`-th on, in arrival order. */
  requestsFrom(from: number): Promise<LoggedRequest[]>;
  stop(): Promise<void>;
}

export async function startSimulatorProcess(options: LlmSimulatorOptions): Promise<SimulatorProcess> {
  const child: ChildProcess = fork(join(__dirname, 'simulator.child.js'), [], {
    env: { PATH: process.env.PATH ?? '', BENCH_SIMULATOR_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the simulator process exited with ${code}`)));
    child.on('message', (reply: SimulatorReply) => {
      if (reply.kind === 'ready') resolve(reply.baseUrl);
    });
  });
  let nextId = 0;
  return {
    baseUrl,
    requestsFrom: (from) =>
      new Promise<LoggedRequest[]>((resolve) => {
        const id = nextId++;
        const onReply = (reply: SimulatorReply) => {
          if (reply.kind !== 'requests' || reply.id !== id) return;
          child.off('message', onReply);
          resolve(reply.requests);
        };
        child.on('message', onReply);
        child.send({ kind: 'requests', id, from } satisfies SimulatorMessage);
      }),
    stop: async () => {
      child.disconnect();
      await exited;
    },
  };
}
