import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, type OnModuleDestroy, Optional } from '@nestjs/common';
import type Redis from 'ioredis';
import OpenAI, { APIConnectionTimeoutError, APIError } from 'openai';
import { Semaphore } from 'redis-semaphore';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { type LlmOutcome, MetricsService } from '../metrics/metrics.service';
import { closeRedisConnection, createRedisConnection } from '../redis/redis.client';
import { CompletionStreamReader, messageOf } from './completion-stream';
import { AttemptError, InferenceError } from './inference.error';
import { backoffDelayMs, type CallFailure, classifyFailure } from './retry-policy.util';

export interface CompletionRequest {
  model: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  /** Our own count of the prompt, to notice a server that silently truncates (Ollama). */
  expectedPromptTokens?: number;
  /** The job the call serves: named in retry warnings (never in metrics). */
  jobId?: string;
}

export interface Completion {
  content: string;
  promptTokens: number | undefined;
  /** The server's `usage.completion_tokens`, when it sent a usage chunk. */
  completionTokens: number | undefined;
  attempts: number;
}

/** Name of the semaphore shared by every worker process on this Redis. */
export const INFERENCE_SEMAPHORE_KEY = 'llm-gateway:inference-permits';
/** Its Redis key (a sorted set of the permits held): redis-semaphore prefixes the name. */
export const INFERENCE_SEMAPHORE_REDIS_KEY = `semaphore:${INFERENCE_SEMAPHORE_KEY}`;
const PERMIT_POLL_MS = 25;
/**
 * A permit a call has just finished with waits this long for this process's next call before it
 * goes back to Redis: a slot that sends its next call at once keeps its permit (no release and
 * no acquire round trip on the call's path), and no permit idles for longer.
 */
const PERMIT_HANDOVER_MS = 5;

/**
 * The only caller of the LLM API (docs/architecture.md "Inference"): the openai SDK with its own retries
 * off, streamed calls, our retry policy (docs/api.md 6.4), TIMEOUT as the longest silence of a stream
 * (before its first chunk or between two, never its whole length), cancellation, and
 * MAX_CONCURRENT_INFERENCES enforced across processes by a Redis semaphore whose permits expire
 * when their holder dies.
 */
@Injectable()
export class InferenceClient implements OnModuleDestroy {
  private readonly openai: OpenAI;
  private readonly redis: Redis;
  private readonly logger = new Logger(InferenceClient.name);
  /** The LLM API's host, for log lines: URL.host never holds credentials. */
  private readonly llmHost: string;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
  ) {
    this.llmHost = new URL(config.llm.apiBase).host;
    this.openai = new OpenAI({
      baseURL: config.llm.apiBase,
      // The SDK refuses an empty key at construction; docs/api.md 1 accepts one and sends `Bearer `
      // as v1 did (fetch trims the value to `Bearer`). The placeholder is never sent.
      ...(config.llm.apiKey === ''
        ? { apiKey: 'empty-key-placeholder', defaultHeaders: { Authorization: 'Bearer ' } }
        : { apiKey: config.llm.apiKey }),
      maxRetries: 0,
      // The SDK's timeout only bounds the wait for the response headers, a part of the wait for the
      // first token; the IdleTimer of each call bounds all of it, and every gap between two chunks.
      timeout: config.llm.timeoutSeconds * 1000,
    });
    // Its own connection, with the offline queue on: a Redis blip delays a call, it does not fail it.
    this.redis = createRedisConnection(config, 'inference', 'patient');
    this.redis.on('error', () => undefined); // reconnects by itself; the calls report what matters
  }

  /** Permits held by this process between two calls (see PERMIT_HANDOVER_MS), newest last. */
  private readonly idlePermits: { permit: Semaphore; releaseTimer: NodeJS.Timeout }[] = [];
  /** A permit being taken for a call about to be sent (reservePermit), until a call takes it. */
  private reserving: Promise<Semaphore | undefined> | undefined;

  async onModuleDestroy(): Promise<void> {
    const reserving = this.reserving;
    this.reserving = undefined;
    await (await reserving)?.release().catch(() => undefined);
    const idle = this.idlePermits.splice(0);
    for (const { releaseTimer } of idle) clearTimeout(releaseTimer);
    await Promise.all(idle.map(({ permit }) => permit.release().catch(() => undefined)));
    await closeRedisConnection(this.redis);
  }

  /**
   * One chat completion with a single user message. Retries 429/5xx/timeouts/connection errors
   * up to MAX_RETRIES attempts; throws InferenceError CONTEXT_LENGTH at once for a context-length
   * rejection, MODEL_NOT_FOUND for a 404, REQUEST_REJECTED for other 4xx, RETRIES_EXHAUSTED with the last reason, or
   * CANCELLED when `signal` aborts.
   */
  async complete(request: CompletionRequest, signal?: AbortSignal): Promise<Completion> {
    const { maxRetries, maxRetryDelaySeconds } = this.config.llm;
    let lastFailure = '';
    for (let attempt = 1; attempt <= maxRetries; attempt += 1) {
      throwIfCancelled(signal);
      let retryAfter: string | null | undefined;
      let attemptStartedAt: number | undefined; // set once the permit is held and the call starts
      try {
        const content = await this.withPermit(signal, () => {
          attemptStartedAt = performance.now();
          return this.call(request, signal);
        });
        this.recordAttempt(request, 'ok', attemptStartedAt, content);
        return { ...content, attempts: attempt };
      } catch (error) {
        if (error instanceof InferenceError || signal?.aborted) {
          this.recordAttempt(request, 'cancelled', attemptStartedAt);
        }
        if (error instanceof InferenceError) throw error;
        throwIfCancelled(signal);
        const failure = describeFailure(error);
        const kind = classifyFailure(failure);
        this.recordAttempt(request, attemptOutcome(kind, failure.status, error), attemptStartedAt);
        switch (kind) {
          case 'context_length':
            throw new InferenceError(failure.message, 'CONTEXT_LENGTH');
          case 'fatal':
            throw new InferenceError(
              `LLM API rejected the request (${failure.status ?? '?'}): ${failure.message}`,
              failure.status === 404 ? 'MODEL_NOT_FOUND' : 'REQUEST_REJECTED',
            );
          case 'retryable':
            lastFailure =
              failure.status === undefined ? failure.message : `${failure.status} ${failure.message}`;
            retryAfter = retryAfterHeader(error);
            break;
        }
      }
      if (attempt < maxRetries) {
        const delayMs = backoffDelayMs(attempt, maxRetryDelaySeconds, retryAfter);
        this.metrics?.llmRetry(request.model);
        this.logger.warn({
          message: `LLM call failed (attempt ${attempt}/${maxRetries}: ${lastFailure}); retrying in ${delayMs} ms`,
          jobId: request.jobId,
          llmHost: this.llmHost,
          model: request.model,
        });
        await sleep(delayMs, undefined, { signal }).catch(() => throwIfCancelled(signal));
      }
    }
    throw new InferenceError(
      `LLM call failed after ${maxRetries} attempts: ${lastFailure}`,
      'RETRIES_EXHAUSTED',
    );
  }

  private async call(
    request: CompletionRequest,
    signal: AbortSignal | undefined,
  ): Promise<Omit<Completion, 'attempts'>> {
    // One controller per call, aborted by the caller's signal or by the idle timer. The SDK never
    // removes the abort listener it adds to the signal it is given: that one lives one call only.
    const callController = new AbortController();
    const forwardAbort = () => callController.abort();
    signal?.addEventListener('abort', forwardAbort, { once: true });
    const idleTimer = new IdleTimer(this.config.llm.timeoutSeconds, () => callController.abort());
    try {
      return await this.streamCompletion(request, callController.signal, idleTimer);
    } catch (error) {
      // Whatever the SDK made of our abort (an abort error, or a quietly ended stream), say why.
      throw idleTimer.expiry ?? error;
    } finally {
      idleTimer.stop();
      signal?.removeEventListener('abort', forwardAbort);
    }
  }

  private async streamCompletion(
    request: CompletionRequest,
    signal: AbortSignal,
    idleTimer: IdleTimer,
  ): Promise<Omit<Completion, 'attempts'>> {
    // Errors before the first byte of the stream (4xx, 5xx, connection) arrive here as APIError.
    // The body is read by a CompletionStreamReader (eventsource-parser) rather than the SDK's
    // Stream: the SDK's chain of async generators cost ~30 µs of event loop per chunk (one chunk
    // per token), and far more when many chunks arrive in one read.
    const response = await this.openai.chat.completions
      .create(
        {
          model: request.model,
          messages: [{ role: 'user', content: request.prompt }],
          // docs/api.md 6.3 and vLLM speak max_tokens; OpenAI's newer max_completion_tokens is not universal.
          // eslint-disable-next-line @typescript-eslint/no-deprecated
          max_tokens: request.maxTokens,
          temperature: request.temperature,
          top_p: request.topP,
          stream: true,
          stream_options: { include_usage: true },
        },
        { signal },
      )
      .asResponse();
    const received = new CompletionStreamReader(() => idleTimer.chunkArrived());
    try {
      if (!response.body) throw new Error('the response has no body');
      const decoder = new TextDecoder();
      for await (const bytes of response.body as AsyncIterable<Uint8Array>) {
        received.feed(decoder.decode(bytes, { stream: true }));
        if (received.failure) throw received.failure;
        // Read to the end even after [DONE]: leaving the body unread makes fetch close the
        // connection instead of keeping it for the next call.
      }
    } catch (error) {
      if (signal.aborted) throw idleTimer.expiry ?? new InferenceError('cancelled', 'CANCELLED');
      throw new AttemptError(
        `the stream broke after ${idleTimer.chunkCount} chunks: ${describeStreamError(error)}`,
        'STREAM_BROKEN',
        { cause: error },
      );
    }
    // A stream cut by our own abort may also end quietly: a cut stream is no answer.
    if (signal.aborted) throw idleTimer.expiry ?? new InferenceError('cancelled', 'CANCELLED');
    if (received.finishReason === null) {
      throw new AttemptError(
        `the stream ended after ${idleTimer.chunkCount} chunks without a finish reason`,
        'STREAM_INCOMPLETE',
      );
    }
    const { promptTokens, completionTokens } = received;
    if (
      request.expectedPromptTokens !== undefined &&
      promptTokens !== undefined &&
      promptTokens < request.expectedPromptTokens * 0.9
    ) {
      this.logger.warn(
        `The LLM API counted ${promptTokens} prompt tokens where we counted ${request.expectedPromptTokens}: it may have truncated the prompt (Ollama does so silently; raise its num_ctx)`,
      );
    }
    return { content: received.contentParts.join(''), promptTokens, completionTokens };
  }

  /** One attempt's outcome and latency (not counted when it never started: cancelled waiting). */
  private recordAttempt(
    request: CompletionRequest,
    outcome: LlmOutcome,
    startedAt: number | undefined,
    completion?: Omit<Completion, 'attempts'>,
  ): void {
    if (!this.metrics || startedAt === undefined) return;
    this.metrics.llmAttempt(request.model, outcome, (performance.now() - startedAt) / 1000);
    if (completion) {
      this.metrics.llmTokens(request.model, {
        countedPrompt: request.expectedPromptTokens,
        serverPrompt: completion.promptTokens,
        serverCompletion: completion.completionTokens,
      });
    }
  }

  /**
   * Takes a permit now, if one is free, for a call this process is about to send (a job's first,
   * while its text is split): that call then finds it held instead of waiting for a round trip
   * to Redis. One attempt, never a wait for a permit: a call that comes before the answer waits
   * for that answer only, and takes a permit from Redis if there was none. A permit no call takes
   * goes back after PERMIT_HANDOVER_MS, as one left by a finished call.
   */
  reservePermit(): void {
    if (this.reserving || this.idlePermits.length > 0) return;
    const permit = this.newPermit(1);
    const reserving = permit.tryAcquire().then(
      (isAcquired) => (isAcquired ? permit : undefined),
      () => undefined, // Redis away: the call acquires its own
    );
    this.reserving = reserving;
    reserving
      .then((reserved) => {
        if (this.reserving !== reserving) return; // a call took it (or the client closed)
        this.reserving = undefined;
        if (reserved) this.keepIdle(reserved);
      })
      .catch(() => undefined);
  }

  /** Runs `work` holding one of the MAX_CONCURRENT_INFERENCES permits shared through Redis. */
  private async withPermit<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    const waitStartedAt = performance.now();
    let permit = this.takeIdlePermit();
    if (!permit && this.reserving) permit = await this.takeReservedPermit();
    permit ??= await this.acquirePermit(signal);
    this.metrics?.permitWaited((performance.now() - waitStartedAt) / 1000);
    try {
      return await work();
    } finally {
      this.keepIdle(permit);
    }
  }

  /** A permit this process released less than PERMIT_HANDOVER_MS ago and still holds, if any. */
  private takeIdlePermit(): Semaphore | undefined {
    for (let idle = this.idlePermits.pop(); idle; idle = this.idlePermits.pop()) {
      clearTimeout(idle.releaseTimer);
      if (idle.permit.isAcquired) return idle.permit;
    }
    return undefined;
  }

  /** The permit reservePermit is taking, once Redis answered; undefined when none was free. */
  private async takeReservedPermit(): Promise<Semaphore | undefined> {
    const reserving = this.reserving;
    this.reserving = undefined;
    const reserved = await reserving;
    return reserved?.isAcquired ? reserved : undefined;
  }

  /** Holds `permit` for the next call for PERMIT_HANDOVER_MS, then gives it back to Redis. */
  private keepIdle(permit: Semaphore): void {
    const idle = {
      permit,
      releaseTimer: setTimeout(() => {
        const index = this.idlePermits.indexOf(idle);
        if (index === -1) return; // taken by a call meanwhile
        this.idlePermits.splice(index, 1);
        permit.release().catch(() => undefined); // an unreleased permit expires on its own
      }, PERMIT_HANDOVER_MS),
    };
    idle.releaseTimer.unref();
    this.idlePermits.push(idle);
  }

  /** A new permit from Redis, waiting for one to be free. */
  private async acquirePermit(signal: AbortSignal | undefined): Promise<Semaphore> {
    const permit = this.newPermit(Number.POSITIVE_INFINITY);
    await acquireCancellable(permit, signal);
    return permit;
  }

  /** A permit not acquired yet, whose acquisition tries `acquireAttempts` times at most. */
  private newPermit(acquireAttempts: number): Semaphore {
    // One Semaphore object holds one permit. Its lease is the job lock's: a permit whose holder
    // died comes back within about JOB_LOCK_SECONDS, as its job does; the holder refreshes it
    // three times per lease while it lives.
    const leaseMs = this.config.jobLockSeconds * 1000;
    return new Semaphore(this.redis, INFERENCE_SEMAPHORE_KEY, this.config.llm.maxConcurrentInferences, {
      lockTimeout: leaseMs,
      refreshInterval: leaseMs / 3,
      acquireTimeout: Number.MAX_SAFE_INTEGER,
      acquireAttemptsLimit: acquireAttempts,
      retryInterval: PERMIT_POLL_MS,
      // The library's default throws from a timer (the process would die): a permit lost to a
      // stalled event loop only lets one more call through for a moment, so say it and go on.
      onLockLost: () =>
        this.logger.warn(
          `An LLM permit expired while held (no refresh within ${leaseMs} ms): MAX_CONCURRENT_INFERENCES may be exceeded for one call`,
        ),
    });
  }
}

/** Waits for a permit; if cancelled meanwhile, releases a permit acquired late and throws. */
async function acquireCancellable(permit: Semaphore, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) {
    await permit.acquire();
    return;
  }
  throwIfCancelled(signal);
  const acquired = permit.acquire();
  let onAbort: (() => void) | undefined;
  const cancelled = new Promise<'cancelled'>((resolve) => {
    onAbort = () => resolve('cancelled');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    if ((await Promise.race([acquired, cancelled])) === 'cancelled') {
      void acquired.then(() => permit.release()).catch(() => undefined);
      throwIfCancelled(signal);
    }
  } finally {
    // The signal lives as long as the worker: leave no listener behind per call.
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/**
 * TIMEOUT as docs/api.md 1 means it: the longest wait for the first chunk of a call, or between two;
 * a generation that keeps streaming is never cut. Armed when created, re-armed by every chunk.
 */
class IdleTimer {
  chunkCount = 0;
  /** Set when the timer fired: the failure to report instead of what the aborted SDK threw. */
  expiry: AttemptError | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly timeoutSeconds: number,
    onExpiry: () => void,
  ) {
    this.timer = setTimeout(() => {
      this.expiry = new AttemptError(
        this.chunkCount === 0
          ? `no first token within TIMEOUT (${this.timeoutSeconds} s)`
          : `no token for TIMEOUT (${this.timeoutSeconds} s) after ${this.chunkCount} chunks`,
        'IDLE_TIMEOUT',
      );
      onExpiry();
    }, timeoutSeconds * 1000);
  }

  chunkArrived(): void {
    this.chunkCount += 1;
    if (!this.expiry) this.timer.refresh(); // refresh() would re-arm a timer that already fired
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/**
 * The server's own words for a stream that broke: an error event's message, or fetch's with the
 * socket's cause (`terminated (other side closed)`). Read by shape: fetch's errors come from
 * another realm than ours under Jest, where `instanceof Error` fails.
 */
function describeStreamError(error: unknown): string {
  const message = messageOf(error) ?? String(error);
  const cause = messageOf((error as { cause?: unknown } | null | undefined)?.cause);
  return cause !== undefined && cause !== message ? `${message} (${cause})` : message;
}

/** The metrics label of a failed attempt (README, "Observability"). */
function attemptOutcome(
  kind: ReturnType<typeof classifyFailure>,
  status: number | undefined,
  error: unknown,
): LlmOutcome {
  if (kind === 'context_length') return 'context_length';
  if (status === 429) return '429';
  if (status !== undefined && status >= 500) return '5xx';
  if (kind === 'fatal') return 'rejected';
  if (error instanceof AttemptError && error.code === 'IDLE_TIMEOUT') return 'timeout';
  if (error instanceof APIConnectionTimeoutError) return 'timeout';
  return 'connection_error';
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InferenceError('cancelled', 'CANCELLED');
}

function retryAfterHeader(error: unknown): string | null | undefined {
  if (!(error instanceof APIError)) return undefined;
  const headers: unknown = error.headers;
  return headers instanceof Headers ? headers.get('retry-after') : undefined;
}

function describeFailure(error: unknown): CallFailure {
  if (error instanceof APIError) {
    const body = error.error as { message?: unknown; code?: unknown } | undefined;
    const message = typeof body?.message === 'string' ? body.message : error.message;
    const sdkCode: unknown = error.code;
    const rawCode = body?.code ?? sdkCode;
    const code = typeof rawCode === 'string' || typeof rawCode === 'number' ? rawCode : undefined;
    const status: unknown = error.status;
    return { status: typeof status === 'number' ? status : undefined, message, code };
  }
  return { status: undefined, message: error instanceof Error ? error.message : String(error) };
}
