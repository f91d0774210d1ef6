import { WorkerHost } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { brokerLabel } from '../config/config-values.util';
import { InferenceClient } from '../inference/inference.client';
import { type JobProgress, SUMMARIZATION_QUEUE, type SummarizationJobData } from '../jobs/job-payload';
import { JobStateRepository } from '../jobs/job-state.repository';
import { MetricsService } from '../metrics/metrics.service';
import { CANCELLED_REASON } from '../jobs/job-status.util';
import { PromptStore } from '../prompts/prompts.repository';
import { TokenizersService } from '../tokenizers/tokenizers.service';
import { checkpointFromSaved, progressToReport, type ReportedProgress } from './job-progress.util';
import { summarize } from './summarize';
import { TurnSplitter } from './turn-splitter.client';

/** The worker's patient Redis connection (PipelineModule creates it, the processor closes it). */
export const WORKER_CONNECTION = Symbol('WORKER_CONNECTION');

/** How long a stopping worker waits for its running jobs to be handed back to the queue. */
const HAND_BACK_TIMEOUT_MS = 10_000;
/** How often a running job reads its cancel flag, to abort its calls in flight. */
const CANCEL_POLL_MS = 500;

/**
 * The worker role: runs CONCURRENCY summarization jobs at once (the BullMQ Worker is built by
 * @nestjs/bullmq with the options PipelineModule gives it). Wiring only: the algorithm is
 * `summarize()`, a job's keys belong to JobStateRepository, the "progress never goes back" rule
 * to `progressToReport`. A job whose worker dies keeps its lock until JOB_LOCK_SECONDS pass;
 * BullMQ's stalled-job check then hands it to another worker, which resumes from the checkpoint.
 */
@Injectable()
export class SummarizationProcessor extends WorkerHost implements OnModuleDestroy {
  private readonly logger = new Logger(SummarizationProcessor.name);
  /** The queue job lines name (docs/architecture.md): the broker, never its password. */
  private get queueLabel(): string {
    return `${SUMMARIZATION_QUEUE} on ${brokerLabel(this.config.redis.url)}`;
  }
  /** Aborted on shutdown: in-flight calls stop, and running jobs go back to the queue. */
  private readonly stopping = new AbortController();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly prompts: PromptStore,
    private readonly tokenizers: TokenizersService,
    private readonly inference: InferenceClient,
    private readonly state: JobStateRepository,
    @Inject(WORKER_CONNECTION) private readonly connection: Redis,
    private readonly metrics: MetricsService,
    private readonly turnSplitter: TurnSplitter,
  ) {
    super();
  }

  /** A job that ended in failure (BullMQ's `failed` event): cancelled, or failed with a reason. */
  protected reportFailure(job: Job<SummarizationJobData, string>, error: Error): void {
    const fields = jobFields(job, this.queueLabel);
    const durationSeconds = (Date.now() - job.timestamp) / 1000;
    if (error.message === CANCELLED_REASON) {
      this.metrics.jobEnded(fields.service, fields.flavor, 'cancelled', durationSeconds);
      this.logger.log({ message: `Job ${fields.jobId} cancelled`, ...fields });
      return;
    }
    this.metrics.jobEnded(fields.service, fields.flavor, 'failed', durationSeconds);
    this.logger.warn({
      message: `Job ${fields.jobId} failed: ${error.message}`,
      ...fields,
      reason: error.message,
    });
  }

  /**
   * Graceful shutdown: stop the running jobs (each goes back to the queue, checkpoint kept) and
   * wait for the worker to let them go, then close the connection. Never hangs: with Redis away
   * nothing can be handed back (the jobs' locks expire and another worker resumes them), so the
   * worker closes at once, and a hand-back that does not finish in time is given up.
   */
  async onModuleDestroy(): Promise<void> {
    this.stopping.abort();
    const isRedisUp = this.connection.status === 'ready';
    const closed = this.worker.close(!isRedisUp);
    let timer: NodeJS.Timeout | undefined;
    const isClosedInTime = await Promise.race([
      closed.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), HAND_BACK_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (!isRedisUp || !isClosedInTime) {
      this.logger.warn(
        'Redis is unreachable: running jobs could not be handed back; another worker resumes them once their lock expires',
      );
    }
    this.connection.disconnect();
  }

  /**
   * A job interrupted by this process stopping is put back in the queue (its checkpoint kept),
   * where another worker resumes it, instead of waiting for its lock to expire.
   */
  async process(job: Job<SummarizationJobData, string>, token?: string): Promise<string> {
    try {
      return await this.summarizeJob(job);
    } catch (error) {
      if (!this.stopping.signal.aborted || error instanceof UnrecoverableError) throw error;
      await job.moveToDelayed(Date.now(), token);
      this.logger.log({
        message: `Job ${job.id ?? '?'} handed back to the queue: this worker is stopping`,
        ...jobFields(job, this.queueLabel),
      });
      throw new DelayedError();
    }
  }

  private async summarizeJob(job: Job<SummarizationJobData, string>): Promise<string> {
    const jobId = job.id ?? '';
    await this.state.admit(job); // a job whose request was answered 503 never runs
    const { service, flavor, text } = job.data;
    const fields = jobFields(job, this.queueLabel);
    const startedAt = performance.now();
    const usage = { llmCalls: 0, promptTokens: 0, completionTokens: 0 };
    const checkpoint = checkpointFromSaved(await this.state.readCheckpoint(jobId));
    if (!checkpoint) {
      await this.state.startFresh(jobId);
      await job.updateProgress({ phase: 'started' } satisfies JobProgress);
      this.logger.log({ message: `Job ${jobId} started`, ...fields });
    } else {
      this.logger.log({ message: `Job ${jobId} resumes from its checkpoint`, ...fields });
    }
    // Lines are appended after the checkpoint that holds them is saved: the list never runs ahead.
    let publishedLineCount = checkpoint ? await this.state.partialLineCount(jobId) : 0;
    let lastReported: ReportedProgress | undefined;

    const template = (await this.prompts.read(service.promptName)).template;
    const reduceTemplate = flavor.reduceSummary
      ? (await this.prompts.read(flavor.reduce_prompt ?? service.promptName)).template
      : template;
    // A job's calls abort when the job is cancelled (DELETE /results/<id> sets a flag in Redis, read
    // here every CANCEL_POLL_MS) or this worker stops; summarize() aborts them on the first failure.
    const cancelled = new AbortController();
    let isPolling = false;
    const cancelPoll = setInterval(() => {
      if (isPolling) return;
      isPolling = true;
      this.state
        .isCancelled(jobId)
        .then((isCancelled) => {
          if (isCancelled) cancelled.abort();
        })
        .catch(() => undefined) // Redis away: the next poll, or the next batch boundary, decides
        .finally(() => (isPolling = false));
    }, CANCEL_POLL_MS);
    const jobSignal = AbortSignal.any([this.stopping.signal, cancelled.signal]);
    const summary = await summarize(
      {
        text,
        fields: service.fields,
        flavor,
        template,
        reduceTemplate,
        tokenizer: this.tokenizers.forFlavor(service.route, flavor),
        maxParallelCalls: this.config.llm.maxConcurrentInferences,
        checkpoint,
      },
      {
        complete: async (prompt, promptTokens, callSignal) => {
          const completion = await this.inference.complete(
            {
              model: flavor.modelName,
              prompt,
              maxTokens: flavor.maxGenerationLength,
              temperature: flavor.temperature,
              topP: flavor.top_p,
              expectedPromptTokens: promptTokens,
              jobId,
            },
            callSignal ? AbortSignal.any([jobSignal, callSignal]) : jobSignal,
          );
          usage.llmCalls += 1;
          usage.promptTokens += completion.promptTokens ?? promptTokens;
          usage.completionTokens += completion.completionTokens ?? 0;
          return completion.content;
        },
        saveCheckpoint: (next) => this.state.saveCheckpoint(jobId, next),
        reportProgress: async (turnsDone, totalTurns, summarySoFar) => {
          const newSummaryLines = summarySoFar.slice(publishedLineCount);
          if (newSummaryLines.length > 0) {
            publishedLineCount = await this.state.appendPartialLines(jobId, newSummaryLines);
          }
          const report = progressToReport(lastReported, turnsDone, totalTurns, newSummaryLines.length > 0);
          if (!report) return;
          lastReported = report;
          await job.updateProgress({
            phase: 'processing',
            ...report,
            summaryLineCount: publishedLineCount,
            newSummaryLines,
          } satisfies JobProgress);
        },
        throwIfCancelled: async () => {
          if (this.stopping.signal.aborted) throw new Error('worker stopping');
          if (await this.state.isCancelled(jobId)) throw new UnrecoverableError(CANCELLED_REASON);
        },
        cancelSignal: jobSignal,
        // A large text is split in a thread: this event loop renews the job's lock meanwhile.
        splitText: (textToSplit, maxTokensPerTurn, tokenizer) =>
          this.turnSplitter.split(textToSplit, maxTokensPerTurn, tokenizer),
      },
    )
      .catch((error: unknown) => {
        // A call aborted by the cancel flag ends the job as cancelled, not as failed.
        if (cancelled.signal.aborted && !this.stopping.signal.aborted) {
          throw new UnrecoverableError(CANCELLED_REASON);
        }
        throw error;
      })
      .finally(() => clearInterval(cancelPoll));
    await this.state.forgetRun(jobId);
    const durationMs = Math.round(performance.now() - startedAt);
    this.metrics.jobEnded(fields.service, fields.flavor, 'completed', (Date.now() - job.timestamp) / 1000);
    this.logger.log({
      message: `Job ${jobId} completed in ${durationMs} ms (${usage.llmCalls} LLM calls, ${usage.promptTokens} prompt and ${usage.completionTokens} completion tokens)`,
      ...fields,
      durationMs,
      ...usage,
    });
    return summary;
  }
}

/** What every log line about a job carries. */
function jobFields(
  job: Job<SummarizationJobData, string>,
  queue: string,
): {
  jobId: string;
  service: string;
  flavor: string;
  queue: string;
} {
  return { jobId: job.id ?? '?', service: job.data.service.route, flavor: job.data.flavor.name, queue };
}
