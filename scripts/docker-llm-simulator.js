#!/usr/bin/env node
// The LLM simulator of docker-compose.yml (image target llm-simulator): the server of `npm run
// fake-llm` (test/support/llm-simulator.ts, compiled by `npm run build:support` into .local/support),
// listening on every interface so that the gateway's container reaches it (`npm run fake-llm`
// listens on 127.0.0.1 only). FAKE_LLM_PORT (default 9000), FAKE_LLM_LATENCY_MS (default 300).
'use strict';

const path = require('node:path');
const { LlmSimulator } = require(
  path.join(__dirname, '..', '.local', 'support', 'test', 'support', 'llm-simulator.js'),
);

async function main() {
  const port = Number(process.env.FAKE_LLM_PORT || 9000);
  const latencyMs = Number(process.env.FAKE_LLM_LATENCY_MS || 300);
  const simulator = await new LlmSimulator({ latencyMs }).start(port, '0.0.0.0');
  process.stdout.write(
    `LLM SIMULATOR (not a real model) listening on 0.0.0.0:${port}, /v1: answers are canned, ${latencyMs} ms latency\n`,
  );
  const stop = () => {
    void simulator.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error) => {
  process.stderr.write(`LLM simulator failed to start: ${String(error)}\n`);
  process.exit(1);
});
