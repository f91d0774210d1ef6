import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Every metric of the gateway starts with this. */
export const METRIC_PREFIX = 'llm_gateway_';

/** How an attempt to call the LLM API ended (one sample per HTTP attempt). */
export type LlmOutcome =
  'ok' | '429' | '5xx' | 'timeout' | 'context_length' | 'rejected' | 'connection_error' | 'cancelled';

/** How a job's run ended. */
export type JobOutcome = 'completed' | 'failed' | 'cancelled';

/** Counts per BullMQ state, read from the queue at scrape time. */
export type QueueCounts = Record<string, number>;

/** A queue read that does not answer in time is left out of the scrape (a frozen Redis). */
const QUEUE_READ_TIMEOUT_MS = 1_000;

/**
 * The registry of this process and the instruments every module reports to (README,
 * "Observability"). Labels are kept low-cardinality: a service route, a flavor, a model, an
 * outcome, a route template; never a job id or a raw path.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private queueCounts: (() => Promise<QueueCounts>) | undefined;

  private readonly jobsAccepted = new Counter({
    name: `${METRIC_PREFIX}jobs_accepted_total`,
    help: 'Jobs accepted (answered 200 {jobId}) by this API process',
    labelNames: ['service', 'flavor'] as const,
    registers: [this.registry],
  });
  private readonly jobsEnded = {
    completed: this.jobCounter('completed', 'Jobs completed by this worker'),
    failed: this.jobCounter('failed', 'Jobs failed on this worker'),
    cancelled: this.jobCounter('cancelled', 'Jobs cancelled while this worker ran them'),
  };
  private readonly jobDuration = new Histogram({
    name: `${METRIC_PREFIX}job_duration_seconds`,
    help: 'From acceptance to the end of a job (waiting in the queue included), by outcome',
    labelNames: ['service', 'flavor', 'outcome'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    registers: [this.registry],
  });
  private readonly llmRequests = new Counter({
    name: `${METRIC_PREFIX}llm_requests_total`,
    help: 'HTTP attempts to the LLM API, by model and outcome',
    labelNames: ['model', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly llmRequestDuration = new Histogram({
    name: `${METRIC_PREFIX}llm_request_duration_seconds`,
    help: 'One attempt to the LLM API, from sending it to its last streamed chunk or its failure',
    labelNames: ['model', 'outcome'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320],
    registers: [this.registry],
  });
  private readonly llmRetries = new Counter({
    name: `${METRIC_PREFIX}llm_retries_total`,
    help: 'LLM calls retried after a 429, a 5xx, a timeout or a broken connection',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  private readonly promptTokens = new Counter({
    name: `${METRIC_PREFIX}llm_prompt_tokens_total`,
    help: "Prompt tokens sent, as the gateway counted them (source=gateway) and as the server's usage said (source=server)",
    labelNames: ['model', 'source'] as const,
    registers: [this.registry],
  });
  private readonly completionTokens = new Counter({
    name: `${METRIC_PREFIX}llm_completion_tokens_total`,
    help: "Completion tokens generated, from the server's usage",
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  private readonly permitWait = new Histogram({
    name: `${METRIC_PREFIX}llm_permit_wait_seconds`,
    help: 'Time an LLM call waited for one of the MAX_CONCURRENT_INFERENCES permits',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [this.registry],
  });
  private readonly resultCacheHits = new Counter({
    name: `${METRIC_PREFIX}result_cache_hits_total`,
    help: 'Jobs answered from the result cache with no LLM call: a kept result (source=stored) or the run of an identical job that was running (source=shared)',
    labelNames: ['service', 'flavor', 'source'] as const,
    registers: [this.registry],
  });
  private readonly resultCacheMisses = new Counter({
    name: `${METRIC_PREFIX}result_cache_misses_total`,
    help: 'Jobs that looked the result cache up and ran the pipeline',
    labelNames: ['service', 'flavor'] as const,
    registers: [this.registry],
  });
  private readonly openWebSockets = new Gauge({
    name: `${METRIC_PREFIX}websockets_open`,
    help: 'WebSockets open on this API process',
    registers: [this.registry],
  });
  private readonly httpRequests = new Counter({
    name: `${METRIC_PREFIX}http_requests_total`,
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: `${METRIC_PREFIX}http_request_duration_seconds`,
    help: 'HTTP request duration, by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    const read = () => this.queueCounts;
    new Gauge({
      name: `${METRIC_PREFIX}queue_jobs`,
      help: 'Jobs in the queue by BullMQ state, read at scrape time (reported by API processes only)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const source = read();
        if (!source) return;
        const counts = await withTimeout(source(), QUEUE_READ_TIMEOUT_MS).catch(() => undefined);
        for (const [state, count] of Object.entries(counts ?? {})) this.set({ state }, count);
      },
    });
  }

  /** The Prometheus text of every metric of this process. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The API side gives the queue's counts (only jobs/ reads the queue). */
  reportQueueCountsFrom(source: () => Promise<QueueCounts>): void {
    this.queueCounts = source;
  }

  jobAccepted(service: string, flavor: string): void {
    this.jobsAccepted.inc({ service, flavor });
  }

  jobEnded(service: string, flavor: string, outcome: JobOutcome, durationSeconds: number): void {
    this.jobsEnded[outcome].inc({ service, flavor });
    this.jobDuration.observe({ service, flavor, outcome }, Math.max(durationSeconds, 0));
  }

  llmAttempt(model: string, outcome: LlmOutcome, durationSeconds: number): void {
    this.llmRequests.inc({ model, outcome });
    this.llmRequestDuration.observe({ model, outcome }, durationSeconds);
  }

  llmRetry(model: string): void {
    this.llmRetries.inc({ model });
  }

  llmTokens(
    model: string,
    tokens: { countedPrompt?: number; serverPrompt?: number; serverCompletion?: number },
  ): void {
    if (tokens.countedPrompt !== undefined)
      this.promptTokens.inc({ model, source: 'gateway' }, tokens.countedPrompt);
    if (tokens.serverPrompt !== undefined)
      this.promptTokens.inc({ model, source: 'server' }, tokens.serverPrompt);
    if (tokens.serverCompletion !== undefined) this.completionTokens.inc({ model }, tokens.serverCompletion);
  }

  resultCacheHit(service: string, flavor: string, source: 'stored' | 'shared'): void {
    this.resultCacheHits.inc({ service, flavor, source });
  }

  resultCacheMiss(service: string, flavor: string): void {
    this.resultCacheMisses.inc({ service, flavor });
  }

  permitWaited(seconds: number): void {
    this.permitWait.observe(seconds);
  }

  webSocketOpened(): void {
    this.openWebSockets.inc();
  }

  webSocketClosed(): void {
    this.openWebSockets.dec();
  }

  httpRequest(method: string, route: string, status: number, durationSeconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, durationSeconds);
  }

  private jobCounter(outcome: JobOutcome, help: string): Counter<'service' | 'flavor'> {
    return new Counter({
      name: `${METRIC_PREFIX}jobs_${outcome}_total`,
      help,
      labelNames: ['service', 'flavor'] as const,
      registers: [this.registry],
    });
  }
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
