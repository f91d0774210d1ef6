import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TokenizerFamily } from '../../src/tokenizers/tokenizer-resolution.util';
import { TokenizersService } from '../../src/tokenizers/tokenizers.service';

/**
 * An OpenAI-compatible server that behaves like vLLM, the only test double of the project:
 * `POST /v1/chat/completions`, streamed (`stream: true`) or not, `GET /v1/models` (with
 * `max_model_len`), OpenAI error bodies, 400 context-length rejections counted with the model's
 * own vocabulary, configurable latency (before the answer, before the first streamed token,
 * between two streamed tokens), injected faults (429 with Retry-After, 500, hang, context-length,
 * a stream that stalls, drops its connection or sends an error event part-way) and a log of every
 * request. Its answers are deterministic functions of the prompt (see `simulatedAnswer`).
 */

export interface SimulatedModel {
  id: string;
  maxModelLen: number;
  tokenizer: TokenizerFamily;
}

/**
 * `hang` never sends a status line, streamed or not. The stream faults send `afterChunks` `data:`
 * chunks (0: the status line only; the first chunk is the `role` one), then: `stall` goes silent
 * with the connection open, `disconnect` drops the connection, `stream_error` sends the error
 * event vLLM sends when generation fails (a `data:` line holding `{"error": {...}}`, then
 * `data: [DONE]`), `end_early` ends the body cleanly with no finish reason and no `[DONE]` (a
 * proxy giving up). A request that does not stream answers `stall` with a hang, `disconnect` and
 * `end_early` by dropping the connection, `stream_error` with a 500.
 */
export type Fault =
  | { kind: 'rate_limit'; retryAfterSeconds: number }
  | { kind: 'server_error' }
  | { kind: 'hang' }
  | { kind: 'context_length' }
  | { kind: 'stall'; afterChunks: number }
  | { kind: 'disconnect'; afterChunks: number }
  | { kind: 'stream_error'; afterChunks: number }
  | { kind: 'end_early'; afterChunks: number };

/** How a streamed answer ended: `client_gone` when the client closed the connection first. */
export type StreamEnd = 'done' | 'stalled' | 'disconnected' | 'error_event' | 'ended_early' | 'client_gone';

export interface LoggedRequest {
  model: string;
  prompt: string;
  maxTokens: number | undefined;
  temperature: number | undefined;
  topP: number | undefined;
  /** The `Authorization` header as it arrived (keys are fake in tests). */
  authorization: string | undefined;
  isStream: boolean;
  includeUsage: boolean;
  promptTokens: number;
  /** HTTP status sent; -1 when none was (a hang, or a connection dropped before any answer). */
  status: number;
  answer: string | undefined;
  /** `data:` chunks sent, `[DONE]` not counted; 0 for an answer that does not stream. */
  chunksSent: number;
  /** Undefined for an answer that does not stream, and while a stream is still going. */
  streamEnd: StreamEnd | undefined;
  receivedAt: number;
  /** When the whole answer was handed to the socket (epoch ms); undefined until then. */
  answeredAt: number | undefined;
  /** The caller's IP address as the simulator saw it: which host sent the call. */
  clientAddress: string | undefined;
}

export interface LlmSimulatorOptions {
  /** Before any answer (status line included), streamed or not: a queue in front of the model. */
  latencyMs?: number;
  /** Streamed answers: after the status line, before the first chunk (time to first token). */
  firstTokenMs?: number;
  /** Streamed answers: before each content chunk after the first (one chunk per word). */
  tokenMs?: number;
  /**
   * Added to `latencyMs` per prompt token (prefill): with a real model a bigger prompt takes
   * longer, so the biggest batch of a round sets the round's length.
   */
  latencyPerPromptTokenMs?: number;
  /** Per completion token, after the prompt's latency and before the answer, streamed or not (decode). */
  latencyPerCompletionTokenMs?: number;
  models?: SimulatedModel[];
}

export const DEFAULT_MODELS: SimulatedModel[] = [
  { id: 'meta-llama-31-8b-it', maxModelLen: 128000, tokenizer: 'llama3' },
  { id: 'mistral-7b-instruct-v0.2', maxModelLen: 32768, tokenizer: 'mistral' },
  { id: 'gpt-4o-mini', maxModelLen: 128000, tokenizer: 'o200k_base' },
  { id: 'small-model', maxModelLen: 4096, tokenizer: 'cl100k_base' },
];

/** Chat-template tokens vLLM adds around one user message (role markers, BOS). */
const CHAT_TEMPLATE_TOKENS = 8;
/**
 * A turn as it reaches a prompt (docs/api.md 6.2): a speaker named in any script (or `(?)`), a colon
 * with optional spaces around it (`Bob: x`, `Alice : x`, `王经理：x`), then the text.
 */
const TURN_LINE = /^([\p{L}\p{N}][\p{L}\p{M}\p{N} '’.-]*?|\(\?\)) ?[:：] ?(.+)$/u;
const SUMMARY_MARK = / \(\d+ words\)$/;

/**
 * The simulator's answer to a prompt. Every raw turn line `Speaker : text` becomes
 * `Speaker : <its first 8 words> (<n> words)`. Lines already in that summarised shape (the
 * summary so far, or a reduce prompt's input) are not summarised again; when the prompt holds
 * only such lines (a reduce call), every other one is kept, so each reduce level halves the text.
 */
export function simulatedAnswer(prompt: string): string {
  const lines = prompt.split('\n').map((line) => line.trim());
  const raw = lines.filter((line) => TURN_LINE.test(line) && !SUMMARY_MARK.test(line));
  if (raw.length > 0) {
    return raw
      .map((line) => {
        const [, speaker, text] = TURN_LINE.exec(line) ?? [];
        const words = (text ?? '').split(/\s+/).filter(Boolean);
        return `${speaker ?? '?'} : ${words.slice(0, 8).join(' ')} (${words.length} words)`;
      })
      .join('\n');
  }
  const summaries = lines.filter((line) => SUMMARY_MARK.test(line));
  return summaries.filter((_, index) => index % 2 === 0).join('\n');
}

/**
 * Splits an answer into the pieces a streamed answer carries, one per word with the whitespace
 * that follows it; joined, they give the answer back exactly.
 */
export function answerPieces(answer: string): string[] {
  return answer === '' ? [] : answer.split(/(?<=\s)(?=\S)/);
}

export class LlmSimulator {
  readonly requests: LoggedRequest[] = [];
  /** The `Authorization` header of each `GET /v1/models` (health probes), as it arrived. */
  readonly modelListAuthorizations: (string | undefined)[] = [];
  latencyMs: number;
  firstTokenMs: number;
  tokenMs: number;
  latencyPerPromptTokenMs: number;
  latencyPerCompletionTokenMs: number;
  inFlight = 0;
  maxInFlight = 0;
  private readonly faults: Fault[] = [];
  /** Faults of one model (an outage of that model alone): see `failModel`. */
  private readonly modelFaults = new Map<string, { fault: Fault; requestsLeft: number }>();
  private readonly models: Map<string, SimulatedModel>;
  private readonly tokenizers = new TokenizersService();
  private readonly server: Server;
  /** Every chat response not yet closed: `stop()` ends them, hanging or streaming. */
  private readonly openResponses = new Set<ServerResponse>();
  private port = 0;
  private host = '127.0.0.1';

  /** Time before a call's fault or answer: `latencyMs` plus `latencyPerPromptTokenMs` per prompt token. */
  promptLatencyMs(promptTokens: number): number {
    return this.latencyMs + this.latencyPerPromptTokenMs * promptTokens;
  }

  /** Time between the prompt's latency and the answer: `latencyPerCompletionTokenMs` per answer token. */
  completionLatencyMs(completionTokens: number): number {
    return this.latencyPerCompletionTokenMs * completionTokens;
  }

  constructor(options: LlmSimulatorOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
    this.firstTokenMs = options.firstTokenMs ?? 0;
    this.tokenMs = options.tokenMs ?? 0;
    this.latencyPerPromptTokenMs = options.latencyPerPromptTokenMs ?? 0;
    this.latencyPerCompletionTokenMs = options.latencyPerCompletionTokenMs ?? 0;
    this.models = new Map((options.models ?? DEFAULT_MODELS).map((model) => [model.id, model]));
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.sendError(response, 500, String(error), 'InternalServerError');
      });
    });
  }

  get baseUrl(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}/v1`;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.host = host;
    return this;
  }

  async stop(): Promise<void> {
    for (const response of this.openResponses) response.destroy();
    this.openResponses.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Faults are served first-in first-out, one per chat request, before normal answers resume. */
  injectFaults(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  /**
   * From now on, every request for `model` after its next `requestsBefore` gets `fault`, until
   * `reset()`: one model of the server goes down while the others answer (as a vLLM router sees
   * one of its backends fail). The requests before it are served as usual, queued faults included.
   */
  failModel(model: string, fault: Fault, requestsBefore = 0): void {
    this.modelFaults.set(model, { fault, requestsLeft: requestsBefore });
  }

  reset(): void {
    this.requests.length = 0;
    this.faults.length = 0;
    this.modelFaults.clear();
    this.maxInFlight = this.inFlight;
  }

  private modelFault(modelId: string): Fault | undefined {
    const failing = this.modelFaults.get(modelId);
    if (!failing) return undefined;
    if (failing.requestsLeft > 0) {
      failing.requestsLeft -= 1;
      return undefined;
    }
    return failing.fault;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '').split('?')[0];
    if (request.method === 'GET' && path === '/v1/models') {
      this.modelListAuthorizations.push(request.headers.authorization);
      this.sendJson(response, 200, {
        object: 'list',
        data: [...this.models.values()].map((model) => ({
          id: model.id,
          object: 'model',
          created: 0,
          owned_by: 'vllm',
          root: model.id,
          max_model_len: model.maxModelLen,
        })),
      });
      return;
    }
    if (request.method === 'POST' && path === '/v1/chat/completions') {
      await this.chatCompletion(request, response);
      return;
    }
    this.sendError(response, 404, `Route ${request.method ?? ''} ${path ?? ''} not found`, 'NotFoundError');
  }

  private async chatCompletion(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readJson(request);
    const modelId = typeof body.model === 'string' ? body.model : '';
    const messages = Array.isArray(body.messages) ? (body.messages as { content?: unknown }[]) : [];
    const prompt = messages
      .map((message) => (typeof message.content === 'string' ? message.content : ''))
      .join('\n');
    const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : undefined;
    const streamOptions = body.stream_options as { include_usage?: unknown } | null | undefined;
    const entry: LoggedRequest = {
      model: modelId,
      prompt,
      maxTokens,
      temperature: typeof body.temperature === 'number' ? body.temperature : undefined,
      topP: typeof body.top_p === 'number' ? body.top_p : undefined,
      authorization: request.headers.authorization,
      isStream: body.stream === true,
      includeUsage: body.stream === true && streamOptions?.include_usage === true,
      promptTokens: 0,
      status: 0,
      answer: undefined,
      chunksSent: 0,
      streamEnd: undefined,
      receivedAt: Date.now(),
      answeredAt: undefined,
      clientAddress: request.socket.remoteAddress,
    };
    this.requests.push(entry);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.openResponses.add(response);
    const connectionClosed = new AbortController();
    response.once('close', () => {
      this.inFlight -= 1;
      this.openResponses.delete(response);
      connectionClosed.abort();
    });

    const model = this.models.get(modelId);
    if (!model) {
      entry.status = 404;
      this.sendError(response, 404, `The model \`${modelId}\` does not exist.`, 'NotFoundError');
      return;
    }
    entry.promptTokens = this.tokenizers.family(model.tokenizer).count(prompt) + CHAT_TEMPLATE_TOKENS;
    if (!(await pause(this.promptLatencyMs(entry.promptTokens), connectionClosed.signal))) return;

    const fault = this.modelFault(modelId) ?? this.faults.shift();
    const requested = entry.promptTokens + (maxTokens ?? 0);
    if (fault?.kind === 'context_length' || requested > model.maxModelLen) {
      entry.status = 400;
      this.sendError(
        response,
        400,
        `This model's maximum context length is ${model.maxModelLen} tokens. However, you requested ${fault ? model.maxModelLen + 1 : requested} tokens (${entry.promptTokens} in the messages, ${maxTokens ?? 0} in the completion). Please reduce the length of the messages or completion.`,
        'BadRequestError',
      );
      return;
    }
    switch (fault?.kind) {
      case 'rate_limit':
        entry.status = 429;
        response.setHeader('retry-after', String(fault.retryAfterSeconds));
        this.sendError(response, 429, 'Too many requests: rate limit exceeded', 'RateLimitError');
        return;
      case 'server_error':
        entry.status = 500;
        this.sendError(response, 500, 'Internal server error', 'InternalServerError');
        return;
      case 'hang':
        entry.status = -1; // never answers; the client's timeout must fire, `stop()` ends it
        return;
      case 'stall':
      case 'disconnect':
      case 'stream_error':
      case 'end_early':
        if (!entry.isStream) {
          this.answerStreamFaultWithoutStream(response, entry, fault.kind);
          return;
        }
        break;
      case undefined:
        break;
    }
    const answer = simulatedAnswer(prompt);
    const completionTokens = this.tokenizers.family(model.tokenizer).count(answer);
    if (!(await pause(this.completionLatencyMs(completionTokens), connectionClosed.signal))) return;
    const usage = {
      prompt_tokens: entry.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: entry.promptTokens + completionTokens,
    };
    entry.status = 200;
    entry.answer = answer;
    const id = `chatcmpl-${this.requests.length}`;
    const created = Math.floor(Date.now() / 1000);
    if (entry.isStream) {
      const streamFault = fault && 'afterChunks' in fault ? fault : undefined;
      await this.streamAnswer(
        response,
        connectionClosed.signal,
        entry,
        { id, created, model: modelId },
        usage,
        streamFault,
      );
      return;
    }
    this.sendJson(response, 200, {
      id,
      object: 'chat.completion',
      created,
      model: modelId,
      choices: [
        { index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop', logprobs: null },
      ],
      usage,
    });
    entry.answeredAt = Date.now();
  }

  /**
   * vLLM's streamed answer: the status line, a first chunk with the role, one chunk per word, a
   * chunk with the finish reason, a chunk with the usage and no choice when
   * `stream_options.include_usage` is set, then `data: [DONE]`.
   */
  private async streamAnswer(
    response: ServerResponse,
    connectionClosed: AbortSignal,
    entry: LoggedRequest,
    header: { id: string; created: number; model: string },
    usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number },
    fault: Extract<Fault, { afterChunks: number }> | undefined,
  ): Promise<void> {
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
      ...header,
      object: 'chat.completion.chunk',
      choices,
      ...extra,
    });
    const choice = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
      index: 0,
      delta,
      logprobs: null,
      finish_reason: finishReason,
    });
    const pieces = answerPieces(entry.answer ?? '');
    // Every word's chunk is the same JSON but for its content: serialized once, the content spliced
    // in (a thousand-word answer made the simulator's CPU a part of every call's latency).
    const [contentBefore, contentAfter] = JSON.stringify(chunk([choice({ content: '\u0000' })])).split(
      '"\\u0000"',
    );
    const chunks = [
      JSON.stringify(chunk([choice({ role: 'assistant', content: '' })])),
      ...pieces.map((piece) => `${contentBefore ?? ''}${JSON.stringify(piece)}${contentAfter ?? ''}`),
      JSON.stringify(chunk([choice({}, 'stop')])),
      ...(entry.includeUsage ? [JSON.stringify(chunk([], { usage }))] : []),
    ];
    // Before the first chunk: time to first token; before each word after the first: tokenMs.
    const delayBeforeMs = (index: number) =>
      index === 0 ? this.firstTokenMs : index >= 2 && index <= pieces.length ? this.tokenMs : 0;
    response.once('close', () => {
      entry.streamEnd ??= 'client_gone';
    });
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    response.flushHeaders();
    const sentCount = Math.min(fault?.afterChunks ?? chunks.length, chunks.length);
    // Chunks ready at the same moment leave in one write, as a server's socket buffer would send
    // them: one write per word made the simulator's own CPU the bottleneck of every benchmark.
    let unsent = '';
    let unsentCount = 0;
    const sendUnsent = async (isLast: boolean) => {
      if (unsentCount === 0) return;
      if (isLast && fault?.kind === 'disconnect') {
        // Out of the socket before it is dropped, as a server that dies after sending would do.
        await new Promise((resolve) => response.write(unsent, resolve));
      } else {
        response.write(unsent);
      }
      entry.chunksSent += unsentCount;
      unsent = '';
      unsentCount = 0;
    };
    for (let index = 0; index < sentCount; index += 1) {
      const delayMs = delayBeforeMs(index);
      if (delayMs > 0) await sendUnsent(false);
      if (!(await pause(delayMs, connectionClosed))) return;
      unsent += `data: ${chunks[index] ?? ''}\n\n`;
      unsentCount += 1;
    }
    if (connectionClosed.aborted) return;
    await sendUnsent(true);
    switch (fault?.kind) {
      case 'stall':
        entry.streamEnd = 'stalled'; // the connection stays open until the client or `stop()` ends it
        return;
      case 'disconnect':
        entry.streamEnd = 'disconnected';
        response.destroy();
        return;
      case 'stream_error': {
        entry.streamEnd = 'error_event';
        // vLLM's `create_streaming_error_response`: its 400 code names no bad request here.
        const error = {
          message: 'Simulated engine failure mid-stream',
          type: 'BadRequestError',
          param: null,
          code: 400,
        };
        response.end(`data: ${JSON.stringify({ error })}\n\ndata: [DONE]\n\n`);
        return;
      }
      case 'end_early':
        entry.streamEnd = 'ended_early'; // a clean end of the body, no finish reason, no [DONE]
        response.end();
        return;
      case undefined:
        entry.streamEnd = 'done';
        response.end('data: [DONE]\n\n');
        entry.answeredAt = Date.now();
        return;
    }
  }

  private answerStreamFaultWithoutStream(
    response: ServerResponse,
    entry: LoggedRequest,
    kind: 'stall' | 'disconnect' | 'stream_error' | 'end_early',
  ): void {
    switch (kind) {
      case 'stall':
        entry.status = -1;
        return;
      case 'disconnect':
      case 'end_early':
        entry.status = -1;
        response.destroy();
        return;
      case 'stream_error':
        entry.status = 500;
        this.sendError(response, 500, 'Simulated engine failure', 'InternalServerError');
        return;
    }
  }

  private sendJson(response: ServerResponse, status: number, body: unknown): void {
    if (response.destroyed) return;
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  }

  private sendError(response: ServerResponse, status: number, message: string, type: string): void {
    this.sendJson(response, status, { error: { message, type, param: null, code: status } });
  }
}

/** Waits `delayMs` (none when 0); false, at once, when the connection closed before or meanwhile. */
async function pause(delayMs: number, connectionClosed: AbortSignal): Promise<boolean> {
  if (connectionClosed.aborted) return false;
  if (delayMs <= 0) return true;
  try {
    await sleep(delayMs, undefined, { signal: connectionClosed });
    return true;
  } catch {
    return false;
  }
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  try {
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
