// The peer in our bench (npm run bench; issue 12). On the LLM simulator at a fixed latency per
// call, with the same ~2,000-token cl100k batch budget, the same concurrency cap and the same
// prompt texts, alternating runs, medians of RUNS:
// - Bmr006 map + reduce at C=4 and C=8: our gateway (HTTP submit → complete) against LangChain.js
//   `loadSummarizationChain` `map_reduce`, against LCEL `batch` + one reduce call, and against
//   the critical-path limit of our own plan;
// - progressive mode (`fields: 2`) on ES2004a against LangChain's `refine`;
// - each LangChain chain also streamed, as our gateway calls: the simulator sends an answer one
//   word per chunk, which costs the reader CPU that LangChain's default (one JSON body) does not pay;
// - JSON submissions per second to the gateway against a bare NestJS route, same client.
// LangChain's wall time includes its splitting and token counting (RecursiveCharacterTextSplitter
// with a local js-tiktoken cl100k length function). The simulator runs in a process of its own
// (an LLM server is another machine), our gateway in another (ROLE=all, as deployed), LangChain
// in this one (a library runs in its caller's process). Nothing may reach the network: any request
// to a host other than this machine is answered 403 at once (LangChain does not retry a 403).
// BENCH_PEER_ONLY=pipeline runs the pipeline tables only, =submissions the submissions table only,
// =progressive the progressive table only (after untimed warm-up runs of both sides);
// BENCH_PEER_RUNS sets RUNS; BENCH_PEER_TRACE=1 prints each call's timeline.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { loadSummarizationChain } from '@langchain/classic/chains';
import type { BaseMessage } from '@langchain/core/messages';
import { StringOutputParser } from '@langchain/core/output_parsers';
import { PromptTemplate } from '@langchain/core/prompts';
import { ChatOpenAI, ChatOpenAICompletions } from '@langchain/openai';
import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import { getEncoding } from 'js-tiktoken';
import { batchTokenBudget } from '../src/chunking/budget.util';
import { fillTemplate } from '../src/prompts/prompt-template.util';
import { REPOSITORY_ROOT, waitFor } from '../test/support/gateway';
import type { LoggedRequest } from '../test/support/llm-simulator';
import { stopProcess } from '../test/support/processes';
import { readTranscript, submit } from '../test/support/pipeline-fixtures';
import { findFreePort, startRedisServer } from '../test/support/redis-server';
import { TokenizersService } from '../src/tokenizers/tokenizers.service';
import {
  type BenchGateway,
  type JobFollower,
  openJobFollower,
  startBenchGatewayProcess,
  startSampleApiProcess,
} from './gateway-process';
import { type SimulatorProcess, startSimulatorProcess } from './simulator-process';

const LATENCY_MS = 200;
const CAPS = [4, 8] as const;
const RUNS = Number(process.env.BENCH_PEER_RUNS ?? 3);
const MODEL = 'bench-model';
/** (4,096 − 1,700) / 1.15 = 2,083 tokens, minus the prompt's own: a batch budget of ~2,000 tokens. */
const TOTAL_CONTEXT_LENGTH = 4096;
const MAX_GENERATION_LENGTH = 1700;
const MAP_PROMPT = 'report-markdown';
const REDUCE_PROMPT = 'report-markdown-reduce';
const PROGRESSIVE_PROMPT = 'summarize-en';
const SUMMARY_TURNS = 3;

const readPrompt = (name: string) => readFileSync(join(REPOSITORY_ROOT, 'prompts', `${name}.txt`), 'utf8');
const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const seconds = (milliseconds: number) => `${(milliseconds / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------------------------------------
// Offline guard

const blockedUrls: string[] = [];

/** Every fetch to a host other than this machine gets a 403 at once, and is reported. */
function blockNetwork(): void {
  const realFetch = globalThis.fetch;
  const isLocal = (hostname: string) => ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(hostname);
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (!isLocal(url.hostname)) {
      blockedUrls.push(url.href);
      return new Response('the peer bench runs offline', { status: 403 });
    }
    return realFetch(input, init);
  };
}

// ---------------------------------------------------------------------------------------------
// The peer: LangChain.js on the same simulator

const cl100k = getEncoding('cl100k_base');
const countTokens = (text: string) => cl100k.encode(text).length;

/** LangChain's token count of a message, with the local vocabulary. */
function countContentTokens(content: BaseMessage['content']): Promise<number> {
  const text =
    typeof content === 'string'
      ? content
      : content.map((block) => (block.type === 'text' && 'text' in block ? String(block.text) : '')).join('');
  return Promise.resolve(countTokens(text));
}

/**
 * ChatOpenAI and the Chat Completions model it delegates to, counting with the local vocabulary:
 * their own counter would download rank files (map_reduce counts with the first, a streamed call
 * with the second).
 */
class OfflineChatOpenAI extends ChatOpenAI {
  override getNumTokens(content: BaseMessage['content']): Promise<number> {
    return countContentTokens(content);
  }
}

class OfflineChatOpenAICompletions extends ChatOpenAICompletions {
  override getNumTokens(content: BaseMessage['content']): Promise<number> {
    return countContentTokens(content);
  }
}

/**
 * `isStreaming`: as our gateway calls (every call streams), so that the peer also reads the
 * simulator's answers one word-chunk at a time; LangChain's default is one JSON body per call.
 */
function peerModel(baseUrl: string, cap: number, isStreaming = false): ChatOpenAI {
  const fields = {
    streaming: isStreaming,
    model: MODEL,
    apiKey: 'bench',
    configuration: { baseURL: baseUrl },
    temperature: 0.2,
    topP: 0.7,
    maxTokens: MAX_GENERATION_LENGTH,
    maxConcurrency: cap,
    maxRetries: 0,
  };
  return new OfflineChatOpenAI({ ...fields, completions: new OfflineChatOpenAICompletions(fields) });
}

/** One of our `{}` templates as a LangChain f-string template, each `{}` named in order. */
function peerPrompt(template: string, names: readonly string[]): PromptTemplate {
  let next = 0;
  return PromptTemplate.fromTemplate(template.replace(/\{\}/g, () => `{${names[next++] ?? 'text'}}`));
}

async function peerDocuments(text: string, chunkSizeTokens: number) {
  const splitter = new RecursiveCharacterTextSplitter({
    chunkSize: chunkSizeTokens,
    chunkOverlap: 0,
    lengthFunction: countTokens,
  });
  return splitter.createDocuments([text]);
}

async function runMapReduce(llm: ChatOpenAI, text: string, budget: number): Promise<number> {
  const startedAt = performance.now();
  const documents = await peerDocuments(text, budget);
  const chain = loadSummarizationChain(llm, {
    type: 'map_reduce',
    combineMapPrompt: peerPrompt(readPrompt(MAP_PROMPT), ['text']),
    combinePrompt: peerPrompt(readPrompt(REDUCE_PROMPT), ['text']),
  });
  const result = (await chain.invoke({ input_documents: documents })) as { text?: unknown };
  if (typeof result.text !== 'string' || result.text === '') throw new Error('map_reduce gave no text');
  return performance.now() - startedAt;
}

async function runLcelBatch(llm: ChatOpenAI, text: string, budget: number, cap: number): Promise<number> {
  const startedAt = performance.now();
  const documents = await peerDocuments(text, budget);
  const parser = new StringOutputParser();
  const map = peerPrompt(readPrompt(MAP_PROMPT), ['text']).pipe(llm).pipe(parser);
  const reduce = peerPrompt(readPrompt(REDUCE_PROMPT), ['text']).pipe(llm).pipe(parser);
  const answers = await map.batch(
    documents.map((document) => ({ text: document.pageContent })),
    { maxConcurrency: cap },
  );
  const final = await reduce.invoke({ text: answers.join('\n') });
  if (final === '') throw new Error('LCEL reduce gave no text');
  return performance.now() - startedAt;
}

async function runRefine(llm: ChatOpenAI, text: string, budget: number): Promise<number> {
  const startedAt = performance.now();
  const documents = await peerDocuments(text, budget);
  const template = readPrompt(PROGRESSIVE_PROMPT);
  const chain = loadSummarizationChain(llm, {
    type: 'refine',
    questionPrompt: PromptTemplate.fromTemplate(template.replace('{}', '').replace('{}', '{text}')),
    refinePrompt: peerPrompt(template, ['existing_answer', 'text']),
  });
  const result = (await chain.invoke({ input_documents: documents })) as { output_text?: unknown };
  if (typeof result.output_text !== 'string') throw new Error('refine gave no text');
  return performance.now() - startedAt;
}

// ---------------------------------------------------------------------------------------------
// Ours: a real gateway on the same simulator

const FLAVOR = {
  name: 'bench',
  modelName: MODEL,
  totalContextLength: TOTAL_CONTEXT_LENGTH,
  maxGenerationLength: MAX_GENERATION_LENGTH,
  tokenizerClass: 'cl100k_base',
  // Only a turn over the budget is split, as LangChain's splitter only splits a piece over its size.
  createNewTurnAfter: 2000,
  summaryTurns: SUMMARY_TURNS,
  // The budget alone bounds a batch, as chunkSize alone bounds LangChain's documents.
  maxNewTurns: 100_000,
  temperature: 0.2,
  top_p: 0.7,
  consolidateSummary: false,
  type: 'abstractive',
};

function benchManifest(): string {
  const service = (route: string, fields: number, prompt: string, extra: Record<string, unknown>) =>
    `${route}:\n  type: summary\n  fields: ${fields}\n  name: ${prompt}\n  flavor:\n    - ${Object.entries({
      ...FLAVOR,
      ...extra,
    })
      .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
      .join('\n      ')}\n`;
  return (
    service('bench/map-reduce', 1, MAP_PROMPT, { reduceSummary: true, reduce_prompt: REDUCE_PROMPT }) +
    service('bench/progressive', 2, PROGRESSIVE_PROMPT, { reduceSummary: false })
  );
}

/**
 * Our gateway, ROLE=all, on the bench's Redis, with the bench services and prompts, and a client's
 * results socket open on it.
 */
async function startBenchGateway(
  llmBaseUrl: string,
  cap: number,
): Promise<BenchGateway & { follower: JobFollower }> {
  const gateway = await startBenchGatewayProcess({
    ROLE: 'all',
    SERVICES_BROKER: process.env.TEST_REDIS_URL ?? '',
    OPENAI_API_BASE: llmBaseUrl,
    MAX_CONCURRENT_INFERENCES: String(cap),
  });
  for (const prompt of [MAP_PROMPT, REDUCE_PROMPT, PROGRESSIVE_PROMPT])
    writeFileSync(join(gateway.root, 'prompts', `${prompt}.txt`), readPrompt(prompt));
  writeFileSync(join(gateway.root, '.hydra-conf', 'services', 'bench.yaml'), benchManifest());
  try {
    await waitFor(
      async () => (await (await fetch(`${gateway.baseUrl}/services`)).text()).includes('bench/progressive'),
      15_000,
      'the gateway to serve the bench services',
    );
  } catch (error) {
    await gateway.close();
    throw error;
  }
  const follower = await openJobFollower(gateway.baseUrl);
  return {
    ...gateway,
    follower,
    close: async () => {
      follower.close();
      await gateway.close();
    },
  };
}

let lastSubmittedAt = 0;

/** HTTP submit → `complete` on the results socket the client keeps open. */
async function runOurs(
  gateway: BenchGateway & { follower: JobFollower },
  route: string,
  text: string,
): Promise<number> {
  const startedAt = performance.now();
  lastSubmittedAt = Date.now();
  await gateway.follower.follow(await submit(gateway, route, text, 'bench'));
  if (process.env.BENCH_PEER_TRACE) process.stderr.write(`complete at ${Date.now() - lastSubmittedAt} ms\n`);
  return performance.now() - startedAt;
}

// ---------------------------------------------------------------------------------------------
// The critical-path limit of our own plan, read from the calls the simulator received

const SUMMARY_LINE = / \(\d+ words\)$/;
const nonEmptyLines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

/**
 * Map calls, then the reduce calls of each level: a level's inputs are exactly the previous
 * level's answer lines (the map answers for the first), so the calls are cut where they add up.
 */
function ourPlan(calls: readonly LoggedRequest[]): { mapCalls: number; reduceLevels: number[] } {
  const reducePrefix = readPrompt(REDUCE_PROMPT).slice(0, 40);
  const ordered = [...calls].sort((a, b) => a.receivedAt - b.receivedAt);
  const reduces = ordered.filter((call) => call.prompt.startsWith(reducePrefix));
  const maps = ordered.filter((call) => !call.prompt.startsWith(reducePrefix));
  const reduceLevels: number[] = [];
  let expected = maps.reduce((sum, call) => sum + nonEmptyLines(call.answer ?? '').length, 0);
  let level: LoggedRequest[] = [];
  let received = 0;
  for (const call of reduces) {
    level.push(call);
    received += call.prompt.split('\n').filter((line) => SUMMARY_LINE.test(line.trim())).length;
    if (received >= expected) {
      reduceLevels.push(level.length);
      expected = level.reduce((sum, done) => sum + nonEmptyLines(done.answer ?? '').length, 0);
      level = [];
      received = 0;
    }
  }
  if (level.length > 0) reduceLevels.push(level.length);
  return { mapCalls: maps.length, reduceLevels };
}

/** BENCH_PEER_TRACE=1: when each call of a run arrived and ended, from the first one. */
function callTimeline(what: string, calls: readonly LoggedRequest[]): string {
  const first = lastSubmittedAt; // the submission of the run traced: the last one
  const reducePrefix = readPrompt(REDUCE_PROMPT).slice(0, 40);
  const lines = calls.map(
    (call) =>
      `${String(call.receivedAt - first).padStart(6)} ms → ${String((call.answeredAt ?? Number.NaN) - first).padStart(6)} ms ${call.prompt.startsWith(reducePrefix) ? 'reduce' : 'map   '} ${call.promptTokens} tokens`,
  );
  return `${what}:\n${lines.join('\n')}\n`;
}

/** ceil(batches / cap) rounds of map, then each reduce level's ceil(groups / cap) rounds. */
function limitMs(plan: { mapCalls: number; reduceLevels: number[] }, cap: number): number {
  const rounds =
    Math.ceil(plan.mapCalls / cap) +
    plan.reduceLevels.reduce((sum, groups) => sum + Math.ceil(groups / cap), 0);
  return rounds * LATENCY_MS;
}

/**
 * No schedule of our plan's calls beats max(ceil(calls / cap), 1 + reduce levels) rounds: the
 * cap bounds the calls of a round, and each level waits for an answer of the one before. The
 * limit above runs the levels one after another; ours overlaps them, so it can beat the limit,
 * never this bound.
 */
function boundLine(plan: { mapCalls: number; reduceLevels: number[] }, cap: number, oursMs: number): string {
  const calls = plan.mapCalls + plan.reduceLevels.reduce((sum, groups) => sum + groups, 0);
  const rounds = Math.max(Math.ceil(calls / cap), 1 + plan.reduceLevels.length);
  const boundMs = rounds * LATENCY_MS;
  return `Lower bound of any schedule of these ${calls} calls at C=${cap}: max(ceil(${calls} / ${cap}), 1 + ${plan.reduceLevels.length} levels) = ${rounds} rounds = ${seconds(boundMs)}; ours / bound = ${(oursMs / boundMs).toFixed(2)}.\n`;
}

// ---------------------------------------------------------------------------------------------
// Pipeline figures

interface Row {
  peer: string;
  peerMs: number;
  peerCalls: readonly LoggedRequest[];
}

/** How many calls, and the largest prompt: a peer may send what our budget never would. */
function callsLabel(calls: readonly LoggedRequest[]): string {
  const largest = Math.max(0, ...calls.map((call) => call.promptTokens));
  return `${calls.length} calls, largest ${largest} tokens`;
}

function figureTable(
  title: string,
  oursMs: number,
  oursCalls: readonly LoggedRequest[],
  limit: number,
  rows: Row[],
): string {
  return [
    `## ${title}`,
    '',
    '| peer | ours: wall time (calls, largest prompt) | peer: wall time (calls, largest prompt) | limit | ours / peer | ours / limit |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (row) =>
        `| ${row.peer} | ${seconds(oursMs)} (${callsLabel(oursCalls)}) | ${seconds(row.peerMs)} (${callsLabel(row.peerCalls)}) | ${seconds(limit)} | ${(oursMs / row.peerMs).toFixed(2)} | ${(oursMs / limit).toFixed(2)} |`,
    ),
    '',
  ].join('\n');
}

/** Calls of the simulator already read: each timed run reads the ones it made. */
let requestsRead = 0;

async function timed(
  simulator: SimulatorProcess,
  run: () => Promise<number>,
): Promise<{ wallMs: number; calls: LoggedRequest[] }> {
  requestsRead += (await simulator.requestsFrom(requestsRead)).length; // the untimed runs' calls
  const wallMs = await run();
  const calls = await simulator.requestsFrom(requestsRead);
  requestsRead += calls.length;
  return { wallMs, calls };
}

async function pipelineTables(): Promise<string> {
  const tokenizer = new TokenizersService().family('cl100k_base');
  const budgetFor = (template: string, placeholders: number) =>
    batchTokenBudget({
      totalContextLength: TOTAL_CONTEXT_LENGTH,
      maxGenerationLength: MAX_GENERATION_LENGTH,
      promptTokens: tokenizer.count(
        fillTemplate(
          template,
          Array.from({ length: placeholders }, () => ''),
        ),
      ),
      contextTokens: 0,
    });
  const mapBudget = budgetFor(readPrompt(MAP_PROMPT), 1);
  const progressiveBudget = budgetFor(readPrompt(PROGRESSIVE_PROMPT), 2);
  const bmr006 = readTranscript('Bmr006.txt');
  const es2004a = readTranscript('ES2004a.txt');
  // The simulator and our gateway each in a process of their own; LangChain, a library, runs in this one.
  const simulator = await startSimulatorProcess({
    latencyMs: LATENCY_MS,
    models: [{ id: MODEL, maxModelLen: 128_000, tokenizer: 'cl100k_base' }],
  });
  const tables: string[] = [];
  try {
    const isProgressiveOnly = process.env.BENCH_PEER_ONLY === 'progressive';
    for (const cap of isProgressiveOnly ? CAPS.slice(0, 1) : CAPS) {
      const gateway = await startBenchGateway(simulator.baseUrl, cap);
      const llm = peerModel(simulator.baseUrl, cap);
      const streamingLlm = peerModel(simulator.baseUrl, cap, true);
      try {
        const ours: number[] = [];
        const mapReduce: number[] = [];
        const lcel: number[] = [];
        let oursCalls: LoggedRequest[] = [];
        const streamedMapReduce: number[] = [];
        let mapReduceCalls: readonly LoggedRequest[] = [];
        let lcelCalls: readonly LoggedRequest[] = [];
        await runOurs(gateway, 'bench/map-reduce', bmr006); // warm-up: vocabularies, JIT
        if (isProgressiveOnly) {
          // In place of the map + reduce runs that warm both sides up before the progressive table.
          await runOurs(gateway, 'bench/progressive', es2004a);
          await runRefine(llm, es2004a, progressiveBudget);
        }
        for (let run = 0; run < (isProgressiveOnly ? 0 : RUNS); run += 1) {
          const oursRun = await timed(simulator, () => runOurs(gateway, 'bench/map-reduce', bmr006));
          ours.push(oursRun.wallMs);
          oursCalls = oursRun.calls;
          const peerRun = await timed(simulator, () => runMapReduce(llm, bmr006, mapBudget));
          mapReduce.push(peerRun.wallMs);
          mapReduceCalls = peerRun.calls;
          streamedMapReduce.push(await runMapReduce(streamingLlm, bmr006, mapBudget));
          const lcelRun = await timed(simulator, () => runLcelBatch(llm, bmr006, mapBudget, cap));
          lcel.push(lcelRun.wallMs);
          lcelCalls = lcelRun.calls;
        }
        const plan = ourPlan(oursCalls);
        if (process.env.BENCH_PEER_TRACE && !isProgressiveOnly)
          process.stderr.write(callTimeline(`ours, C=${cap}`, oursCalls));
        if (!isProgressiveOnly)
          tables.push(
            figureTable(
              `Bmr006 map + reduce, C=${cap}, L=${LATENCY_MS} ms, batch budget ${mapBudget} cl100k tokens, median of ${RUNS} alternating runs (our plan: ${plan.mapCalls} map batches, reduce levels of ${plan.reduceLevels.join(', ')} groups)`,
              median(ours),
              oursCalls,
              limitMs(plan, cap),
              [
                { peer: 'LangChain `map_reduce`', peerMs: median(mapReduce), peerCalls: mapReduceCalls },
                {
                  peer: 'LangChain `map_reduce`, streamed as ours',
                  peerMs: median(streamedMapReduce),
                  peerCalls: mapReduceCalls,
                },
                { peer: 'LCEL `batch` + one reduce', peerMs: median(lcel), peerCalls: lcelCalls },
              ],
            ),
            boundLine(plan, cap, median(ours)),
          );
        if (cap === CAPS[0]) {
          const progressive: number[] = [];
          const refine: number[] = [];
          let progressiveCalls: readonly LoggedRequest[] = [];
          const streamedRefine: number[] = [];
          let refineCalls: readonly LoggedRequest[] = [];
          for (let run = 0; run < RUNS; run += 1) {
            const oursRun = await timed(simulator, () => runOurs(gateway, 'bench/progressive', es2004a));
            progressive.push(oursRun.wallMs);
            progressiveCalls = oursRun.calls;
            if (process.env.BENCH_PEER_TRACE)
              process.stderr.write(callTimeline('ours, progressive', progressiveCalls));
            const peerRun = await timed(simulator, () => runRefine(llm, es2004a, progressiveBudget));
            refine.push(peerRun.wallMs);
            refineCalls = peerRun.calls;
            streamedRefine.push(await runRefine(streamingLlm, es2004a, progressiveBudget));
          }
          tables.push(
            figureTable(
              `Progressive (\`fields: 2\`, ${SUMMARY_TURNS} summary lines of context) on ES2004a, L=${LATENCY_MS} ms, batch budget ${progressiveBudget} cl100k tokens, median of ${RUNS} alternating runs (limit: one round per batch)`,
              median(progressive),
              progressiveCalls,
              progressiveCalls.length * LATENCY_MS,
              [
                { peer: 'LangChain `refine`', peerMs: median(refine), peerCalls: refineCalls },
                {
                  peer: 'LangChain `refine`, streamed as ours',
                  peerMs: median(streamedRefine),
                  peerCalls: refineCalls,
                },
              ],
            ),
          );
        }
      } finally {
        await gateway.close();
      }
    }
  } finally {
    await simulator.stop();
  }
  return tables.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Submissions per second: the gateway's generate route against a bare NestJS route

const CLIENTS = 16;
const ROUND_MS = 2_000;
/** More rounds than the pipeline's runs: a round is short, and a shared machine's load swings. */
const SUBMISSION_ROUNDS = 9;
const ROUND_MAX_REQUESTS = 30_000;
const SUBMIT_BODY = JSON.stringify({ content: 'Alice : hello\nBob : good morning to you', flavor: 'llama' });

interface Server {
  child: ChildProcess;
  port: number;
  close?: () => Promise<void>;
}

async function waitReady(port: number, path: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server on port ${port} exited with ${child.exitCode}`);
    const isReady = await fetch(`http://127.0.0.1:${port}${path}`).then(
      (response) => response.status < 500,
      () => false,
    );
    if (isReady) return;
    if (Date.now() > deadline) throw new Error(`the server on port ${port} did not become ready`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function startGatewayApi(redisUrl: string): Promise<Server> {
  const api = await startSampleApiProcess(redisUrl, profileArguments('gateway'));
  return { child: api.child, port: api.port, close: () => api.close() };
}

async function startBareNest(): Promise<Server> {
  const port = await findFreePort();
  const child = spawn(process.execPath, [...profileArguments('bare'), join(__dirname, 'bare-nest.app.js')], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port) },
    stdio: 'ignore',
  });
  await waitReady(port, '/generate', child);
  return { child, port };
}

/** BENCH_CPU_PROFILE=<folder> writes each server's CPU profile there when it stops. */
function profileArguments(name: string): string[] {
  const folder = process.env.BENCH_CPU_PROFILE;
  return folder ? ['--cpu-prof', `--cpu-prof-dir=${folder}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
}

async function stopServer(server: Server): Promise<void> {
  await (server.close ?? (() => stopProcess(server.child)))();
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface RoundFigures {
  perSecond: number;
  /** The server process's CPU time per answered request: what bounds it on a busy machine. */
  cpuMsPerRequest: number;
}

/**
 * Requests answered 200 per second by CLIENTS closed-loop keep-alive clients, bounded in time
 * and count, and the server's CPU time per request.
 */
async function submissionRound(server: Server, path: string): Promise<RoundFigures> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const body = Buffer.from(SUBMIT_BODY);
  const post = () =>
    new Promise<number>((resolve, reject) => {
      const outgoing = request(
        {
          agent,
          host: '127.0.0.1',
          port: server.port,
          path,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (response) => {
          response.resume();
          response.once('end', () => resolve(response.statusCode ?? 0));
        },
      );
      outgoing.once('error', reject);
      outgoing.end(body);
    });
  const endAt = performance.now() + ROUND_MS;
  let sent = 0;
  let accepted = 0;
  const client = async () => {
    while (performance.now() < endAt && sent < ROUND_MAX_REQUESTS) {
      sent += 1;
      if ((await post()) === 200) accepted += 1;
    }
  };
  const cpuBefore = cpuSeconds(server.child.pid);
  const startedAt = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const elapsedSeconds = (performance.now() - startedAt) / 1000;
  const cpuUsed = cpuSeconds(server.child.pid) - cpuBefore;
  agent.destroy();
  if (accepted < sent) throw new Error(`${sent - accepted} of ${sent} submissions were not answered 200`);
  return { perSecond: accepted / elapsedSeconds, cpuMsPerRequest: (cpuUsed * 1000) / accepted };
}

async function submissionsTable(): Promise<string> {
  const redis = await startRedisServer();
  const gateway = await startGatewayApi(redis.url);
  const bare = await startBareNest();
  const oursPath = '/services/summarize/en/generate';
  try {
    await submissionRound(gateway, oursPath); // warm-up
    await submissionRound(bare, '/generate');
    const ours: RoundFigures[] = [];
    const baseline: RoundFigures[] = [];
    for (let round = 0; round < SUBMISSION_ROUNDS; round += 1) {
      ours.push(await submissionRound(gateway, oursPath));
      baseline.push(await submissionRound(bare, '/generate'));
    }
    const rate = (figures: RoundFigures[]) => median(figures.map((figure) => figure.perSecond));
    const cpu = (figures: RoundFigures[]) => median(figures.map((figure) => figure.cpuMsPerRequest));
    // Each round against the bare route's round next to it: both met the same load of the machine.
    const ratios = (of: (ours: RoundFigures, peer: RoundFigures) => number) => {
      const values = ours.map((figures, round) => of(figures, baseline[round] ?? figures));
      return `${median(values).toFixed(2)} (rounds: ${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})`;
    };
    return [
      `## Submissions: JSON POST answered 200, one process each, ${CLIENTS} keep-alive clients, medians of ${SUBMISSION_ROUNDS} alternating rounds of ${ROUND_MS / 1000} s`,
      '',
      `| figure | ours: POST ${oursPath} (ROLE=api, job queued in Redis) | peer: bare NestJS POST route (JSON parsed, answered) | ours / peer, median of the rounds' ratios |`,
      '| --- | --- | --- | --- |',
      `| submissions per second | ${rate(ours).toFixed(0)} req/s | ${rate(baseline).toFixed(0)} req/s | ${ratios((mine, peer) => mine.perSecond / peer.perSecond)} |`,
      // Inverted, so that the ratio reads as the rate's: the requests one CPU second serves.
      `| requests per CPU second of the server process | ${(1000 / cpu(ours)).toFixed(0)} (${cpu(ours).toFixed(3)} ms each) | ${(1000 / cpu(baseline)).toFixed(0)} (${cpu(baseline).toFixed(3)} ms each) | ${ratios((mine, peer) => peer.cpuMsPerRequest / mine.cpuMsPerRequest)} |`,
      '',
    ].join('\n');
  } finally {
    await stopServer(gateway);
    await stopServer(bare);
    await redis.stop();
  }
}

async function main(): Promise<void> {
  blockNetwork();
  const only = process.env.BENCH_PEER_ONLY;
  const redis = await startRedisServer();
  process.env.TEST_REDIS_URL = redis.url;
  try {
    if (only !== 'submissions') process.stdout.write(`${await pipelineTables()}\n`);
  } finally {
    await redis.stop();
  }
  if (only !== 'pipeline' && only !== 'progressive') process.stdout.write(`${await submissionsTable()}\n`);
  process.stdout.write(
    blockedUrls.length === 0
      ? 'Network: no request left this machine.\n'
      : `Network: ${blockedUrls.length} request(s) refused at once: ${[...new Set(blockedUrls)].join(', ')}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
