import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { InferenceClient } from '../inference/inference.client';
import {
  cancelKey,
  partialSummaryKey,
  SUMMARIZATION_QUEUE,
  type JobProgress,
  type SummarizationJobData,
} from '../jobs/job-payload';
import { CANCELLED_REASON } from '../jobs/job-status.util';
import { PromptStore } from '../prompts/prompts.repository';
import { patientRedisOptions } from '../redis/redis.client';
import { TokenizersService } from '../tokenizers/tokenizers.service';
import { type Checkpoint, summarize } from './summarize';

export const checkpointKey = (jobId: string) => `llm-gateway:checkpoint:${jobId}`;

/**
 * The worker role: a BullMQ Worker running CONCURRENCY summarization jobs at once. A job whose
 * worker dies keeps its lock until JOB_LOCK_SECONDS pass; BullMQ's stalled-job check (every
 * JOB_LOCK_SECONDS) then hands it to another worker, which resumes from the checkpoint.
 * Checkpoints live in their own key rather than in the job's data, so that saving one after
 * every batch does not rewrite the whole text each time.
 */
@Injectable()
export class SummarizationWorker implements OnModuleInit, OnModuleDestroy {
  private worker: Worker<SummarizationJobData, string> | undefined;
  private readonly connection: Redis;
  private readonly logger = new Logger(SummarizationWorker.name);
  /** Aborted on shutdown: in-flight calls stop, and running jobs go back to the queue. */
  private readonly stopping = new AbortController();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly prompts: PromptStore,
    private readonly tokenizers: TokenizersService,
    private readonly inference: InferenceClient,
  ) {
    this.connection = new Redis(config.redis.url, patientRedisOptions(config, 'worker'));
    this.connection.on('error', () => undefined);
  }

  onModuleInit(): void {
    const lockMs = this.config.jobLockSeconds * 1000;
    this.worker = new Worker(SUMMARIZATION_QUEUE, (job, token) => this.processOrRequeue(job, token), {
      connection: this.connection,
      concurrency: this.config.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: 2,
    });
    this.worker.on('error', (error) => this.logger.warn(`Queue worker: ${error.message}`));
    this.worker.on('failed', (job, error) => {
      if (job) this.logger.warn(`Job ${job.id ?? '?'} failed: ${error.message}`);
    });
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping.abort();
    await this.worker?.close();
    this.connection.disconnect();
  }

  /**
   * Graceful shutdown: a job interrupted by this process stopping is put back in the queue (its
   * checkpoint kept), where another worker resumes it, instead of waiting for the lock to expire.
   */
  private async processOrRequeue(
    job: Job<SummarizationJobData, string>,
    token: string | undefined,
  ): Promise<string> {
    try {
      return await this.process(job);
    } catch (error) {
      if (!this.stopping.signal.aborted || error instanceof UnrecoverableError) throw error;
      await job.moveToDelayed(Date.now(), token);
      this.logger.log(`Job ${job.id ?? '?'} handed back to the queue: this worker is stopping`);
      throw new DelayedError();
    }
  }

  private async process(job: Job<SummarizationJobData, string>): Promise<string> {
    const jobId = job.id ?? '';
    const { service, flavor, text } = job.data;
    const checkpoint = await this.readCheckpoint(jobId);
    if (!checkpoint) {
      await this.connection.del(partialSummaryKey(jobId));
      await job.updateProgress({ phase: 'started' } satisfies JobProgress);
    } else {
      this.logger.log(`Job ${jobId} resumes from its checkpoint`);
    }
    // Lines are appended after the checkpoint that holds them is saved: the list never runs ahead.
    let publishedLineCount = checkpoint ? await this.connection.llen(partialSummaryKey(jobId)) : 0;
    let lastReported = { turnsDone: 0, totalTurns: 0 };

    const template = (await this.prompts.read(service.promptName)).template;
    const reduceTemplate = flavor.reduceSummary
      ? (await this.prompts.read(flavor.reduce_prompt ?? service.promptName)).template
      : template;
    let lastRatio = -1;
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
        complete: async (prompt, promptTokens) =>
          (
            await this.inference.complete(
              {
                model: flavor.modelName,
                prompt,
                maxTokens: flavor.maxGenerationLength,
                temperature: flavor.temperature,
                topP: flavor.top_p,
                expectedPromptTokens: promptTokens,
              },
              this.stopping.signal,
            )
          ).content,
        saveCheckpoint: async (next) => {
          await this.connection.set(
            checkpointKey(jobId),
            JSON.stringify(next),
            'EX',
            this.config.resultTtlSeconds,
          );
        },
        reportProgress: async (turnsDone, totalTurns, summarySoFar) => {
          const newSummaryLines = summarySoFar.slice(publishedLineCount);
          if (newSummaryLines.length > 0) {
            await this.connection
              .multi()
              .rpush(partialSummaryKey(jobId), ...newSummaryLines)
              .expire(partialSummaryKey(jobId), this.config.resultTtlSeconds)
              .exec();
            publishedLineCount = summarySoFar.length;
          }
          // Splitting a turn mid-run adds turns: never let the percentage go back.
          const ratio = totalTurns === 0 ? 0 : turnsDone / totalTurns;
          if (ratio >= lastRatio) {
            lastRatio = ratio;
            lastReported = { turnsDone, totalTurns };
          } else if (newSummaryLines.length === 0) {
            return;
          }
          await job.updateProgress({
            phase: 'processing',
            ...lastReported,
            summaryLineCount: publishedLineCount,
            newSummaryLines,
          } satisfies JobProgress);
        },
        throwIfCancelled: async () => {
          if (this.stopping.signal.aborted) throw new Error('worker stopping');
          if ((await this.connection.exists(cancelKey(jobId))) === 1)
            throw new UnrecoverableError(CANCELLED_REASON);
        },
      },
    );
    await this.connection.del(checkpointKey(jobId), partialSummaryKey(jobId));
    return summary;
  }

  private async readCheckpoint(jobId: string): Promise<Checkpoint | undefined> {
    const saved = await this.connection.get(checkpointKey(jobId));
    return saved ? (JSON.parse(saved) as Checkpoint) : undefined;
  }
}
