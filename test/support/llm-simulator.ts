import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TokenizerFamily } from '../../src/tokenizers/tokenizer-resolution.util';
import { TokenizersService } from '../../src/tokenizers/tokenizers.service';

/**
 * An OpenAI-compatible server that behaves like vLLM, the only test double of the project:
 * `POST /v1/chat/completions`, `GET /v1/models` (with `max_model_len`), OpenAI error bodies,
 * 400 context-length rejections counted with the model's own vocabulary, configurable latency,
 * injected faults (429 with Retry-After, 500, hang, context-length) and a log of every request.
 * Its answers are deterministic functions of the prompt (see `simulatedAnswer`).
 */

export interface SimulatedModel {
  id: string;
  maxModelLen: number;
  tokenizer: TokenizerFamily;
}

export type Fault =
  | { kind: 'rate_limit'; retryAfterSeconds: number }
  | { kind: 'server_error' }
  | { kind: 'hang' }
  | { kind: 'context_length' };

export interface LoggedRequest {
  model: string;
  prompt: string;
  maxTokens: number | undefined;
  temperature: number | undefined;
  topP: number | undefined;
  promptTokens: number;
  status: number;
  answer: string | undefined;
  receivedAt: number;
}

export const DEFAULT_MODELS: SimulatedModel[] = [
  { id: 'meta-llama-31-8b-it', maxModelLen: 128000, tokenizer: 'llama3' },
  { id: 'mistral-7b-instruct-v0.2', maxModelLen: 32768, tokenizer: 'mistral' },
  { id: 'gpt-4o-mini', maxModelLen: 128000, tokenizer: 'o200k_base' },
  { id: 'small-model', maxModelLen: 4096, tokenizer: 'cl100k_base' },
];

/** Chat-template tokens vLLM adds around one user message (role markers, BOS). */
const CHAT_TEMPLATE_TOKENS = 8;
/** A turn as SPEC.md 6.2 writes it: a speaker of letters, digits, spaces and dashes (or `(?)`). */
const TURN_LINE = /^([A-Za-z0-9\s\-éèêëàâäôöùûüçïîÿæœñ]+?|\(\?\)) : (.+)$/;
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

export class LlmSimulator {
  readonly requests: LoggedRequest[] = [];
  latencyMs: number;
  inFlight = 0;
  maxInFlight = 0;
  private readonly faults: Fault[] = [];
  private readonly models: Map<string, SimulatedModel>;
  private readonly tokenizers = new TokenizersService();
  private readonly server: Server;
  private readonly hangingResponses = new Set<ServerResponse>();
  private port = 0;

  constructor(options: { latencyMs?: number; models?: SimulatedModel[] } = {}) {
    this.latencyMs = options.latencyMs ?? 0;
    this.models = new Map((options.models ?? DEFAULT_MODELS).map((model) => [model.id, model]));
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.sendError(response, 500, String(error), 'InternalServerError');
      });
    });
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const response of this.hangingResponses) response.destroy();
    this.hangingResponses.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Faults are served first-in first-out, one per chat request, before normal answers resume. */
  injectFaults(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  reset(): void {
    this.requests.length = 0;
    this.faults.length = 0;
    this.maxInFlight = this.inFlight;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '').split('?')[0];
    if (request.method === 'GET' && path === '/v1/models') {
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
    const entry: LoggedRequest = {
      model: modelId,
      prompt,
      maxTokens,
      temperature: typeof body.temperature === 'number' ? body.temperature : undefined,
      topP: typeof body.top_p === 'number' ? body.top_p : undefined,
      promptTokens: 0,
      status: 0,
      answer: undefined,
      receivedAt: Date.now(),
    };
    this.requests.push(entry);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    response.once('close', () => {
      this.inFlight -= 1;
    });

    const model = this.models.get(modelId);
    if (!model) {
      entry.status = 404;
      this.sendError(response, 404, `The model \`${modelId}\` does not exist.`, 'NotFoundError');
      return;
    }
    entry.promptTokens = this.tokenizers.family(model.tokenizer).count(prompt) + CHAT_TEMPLATE_TOKENS;
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));

    const fault = this.faults.shift();
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
        entry.status = -1; // never answers; the client's timeout must fire
        this.hangingResponses.add(response);
        response.once('close', () => this.hangingResponses.delete(response));
        return;
      case undefined:
        break;
    }
    const answer = simulatedAnswer(prompt);
    const completionTokens = this.tokenizers.family(model.tokenizer).count(answer);
    entry.status = 200;
    entry.answer = answer;
    this.sendJson(response, 200, {
      id: `chatcmpl-${this.requests.length}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: modelId,
      choices: [
        { index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop', logprobs: null },
      ],
      usage: {
        prompt_tokens: entry.promptTokens,
        completion_tokens: completionTokens,
        total_tokens: entry.promptTokens + completionTokens,
      },
    });
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
