import { InjectQueue, WorkerHost } from '@nestjs/bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { DelayedError, type Job, type Queue, UnrecoverableError } from 'bullmq';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { brokerLabel } from '../config/config-values.util';
import { InferenceClient } from '../inference/inference.client';
import {
  type FlavorParameters,
  type JobProgress,
  type JobUsage,
  SUMMARIZATION_QUEUE,
  type SummarizationJobData,
} from '../jobs/job-payload';
import { JobStateRepository, REFUSED_REASON } from '../jobs/job-state.repository';
import { MetricsService } from '../metrics/metrics.service';
import { CANCELLED_REASON } from '../jobs/job-status.util';
import { PromptStore } from '../prompts/prompts.repository';
import { TokenizersService } from '../tokenizers/tokenizers.service';
import { checkpointFromSaved, progressToReport, type ReportedProgress } from './job-progress.util';
import { type CachedResult, ResultCacheRepository } from './result-cache.repository';
import { fillTemplate } from '../prompts/prompt-template.util';
import { hasRoomForText, isFailoverError, isPlanShared } from './failover.util';
import { summarize } from './summarize';
import { REDIS_CLOSE_TIMEOUT_MS, settlesWithin } from '../redis/redis.client';
import { type UsageCounts, usageCountsFromSaved } from './usage-counts.util';
import { TurnSplitter } from './turn-splitter.client';

/** The worker's patient Redis connection (PipelineModule creates it, the processor closes it). */
export const WORKER_CONNECTION = Symbol('WORKER_CONNECTION');

/** How long a stopping worker waits for its running jobs to be handed back to the queue. */
const HAND_BACK_TIMEOUT_MS = 10_000;
/** How often a running job reads its cancel flag, to abort its calls in flight. */
const CANCEL_POLL_MS = 500;
/** How often a job waiting for an identical job's run looks for its result. */
const CACHE_WAIT_POLL_MS = 200;

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
    private readonly cache: ResultCacheRepository,
    private readonly turnSplitter: TurnSplitter,
    /** The worker's own handle on the queue, on this connection (PipelineModule). */
    @InjectQueue(SUMMARIZATION_QUEUE) private readonly workerQueue: Queue,
  ) {
    super();
  }

  /** A job that ended in failure (BullMQ's `failed` event): cancelled, or failed with a reason. */
  protected reportFailure(job: Job<SummarizationJobData, string>, error: Error): void {
    const fields = jobFields(job, this.queueLabel);
    const durationSeconds = (Date.now() - job.timestamp) / 1000;
    if (error.message === REFUSED_REASON) {
      // Its request was answered 503: the client never got its id, so nothing of it is kept.
      this.logger.log({ message: `Job ${fields.jobId} refused (its request was answered 503)`, ...fields });
      // Only while Redis answers and the worker runs: otherwise the record expires with
      // RESULT_TTL (its text already emptied), rather than a removal racing the worker's close.
      if (this.connection.status === 'ready' && !this.stopping.signal.aborted) {
        job
          .remove()
          .then(() => this.state.forgetRun(fields.jobId))
          .catch(() => undefined);
      }
      return;
    }
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
    // A process stopped right after it started may still be making its first connection.
    const isStarting = ['ready', 'connecting', 'connect'].includes(this.connection.status);
    // Closed while its connections are still starting, a BullMQ worker or queue emits an error
    // nobody listens to any more (an uncaught exception): BullMQ removes its listeners when it
    // closes, then the start fails on the connection closed below. Let both finish starting, bounded.
    if (isStarting) {
      await settlesWithin(
        Promise.all([this.worker.waitUntilReady(), this.workerQueue.waitUntilReady()]),
        REDIS_CLOSE_TIMEOUT_MS,
      );
    }
    const isRedisUp = this.connection.status === 'ready';
    const isClosedInTime = await settlesWithin(this.worker.close(!isRedisUp), HAND_BACK_TIMEOUT_MS);
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
    const { service, flavor } = job.data;
    // The prompts are read while the admission is claimed, not after: files read through libuv's
    // thread pool (~2 ms), the longest of a job's reads, and reading them decides nothing. A
    // refused job fails as refused, whatever its prompts.
    const templatesRead = this.readTemplates(service, flavor);
    templatesRead.catch(() => undefined);
    await this.state.admit(job); // a job whose request was answered 503 never runs
    const fields = jobFields(job, this.queueLabel);
    const startedAt = performance.now();
    // Independent reads, at once: a job's first LLM call waits for all of them. The text as bytes,
    // decoded only where it is split or hashed: in a thread when it is large.
    const [text, templates, savedCheckpoint, switchedFlavor] = await Promise.all([
      this.state.readTextBytes(job),
      templatesRead,
      this.state.readCheckpoint(jobId),
      this.state.readSwitchedFlavor(jobId),
    ]);
    // Result cache (docs/architecture.md, "Result cache"): a kept result, or the run of an
    // identical job running now, answers this one with no LLM call.
    const cacheKey = this.cache.isEnabled
      ? await this.turnSplitter.resultCacheKey({ service, flavor, ...templates }, text)
      : undefined;
    if (cacheKey !== undefined) {
      const cached = await this.cachedResultOrLease(job, cacheKey);
      if (cached) return this.completeFromCache(job, cached, startedAt);
      this.metrics.resultCacheMiss(fields.service, fields.flavor);
    }
    const leaseRenewal =
      cacheKey === undefined
        ? undefined
        : setInterval(() => {
            this.cache.renewLease(cacheKey, jobId).catch(() => undefined); // Redis away: the next renewal
          }, this.cache.renewEveryMs);
    // A resumed job goes on counting from the usage saved with its checkpoint.
    const { elapsedMs: elapsedBeforeMs, ...counts } = usageCountsFromSaved(savedCheckpoint);
    const countsSoFar = (): UsageCounts => ({
      ...counts,
      elapsedMs: Math.round(elapsedBeforeMs + performance.now() - startedAt),
    });
    let summary: string;
    let flavorUsed: FlavorParameters;
    try {
      ({ summary, flavor: flavorUsed } = await this.runWithFailover(
        job,
        text,
        templates,
        { checkpoint: savedCheckpoint, switchedFlavor },
        counts,
        countsSoFar,
      ));
    } catch (error) {
      // Waiting identical jobs take the lease and run themselves.
      if (cacheKey !== undefined) await this.cache.releaseLease(cacheKey, jobId).catch(() => undefined);
      throw error;
    } finally {
      clearInterval(leaseRenewal);
    }
    const durationMs = countsSoFar().elapsedMs;
    const usage: JobUsage = { ...counts, durationMs, flavor: flavorUsed.name };
    if (cacheKey !== undefined) {
      await this.cache.store(cacheKey, jobId, { summary, usage }).catch((error: unknown) => {
        // The job's result is good: only later identical jobs miss it.
        this.logger.warn({ message: `Job ${jobId}: result not cached (${String(error)})`, ...fields });
      });
    }
    await Promise.all([this.state.saveUsage(jobId, usage), this.state.forgetRun(jobId)]);
    this.metrics.jobEnded(fields.service, fields.flavor, 'completed', (Date.now() - job.timestamp) / 1000);
    this.logger.log({
      message: `Job ${jobId} completed in ${durationMs} ms (${counts.calls} LLM calls, ${counts.promptTokens} prompt and ${counts.completionTokens} completion tokens)`,
      ...fields,
      durationMs,
      llmCalls: counts.calls,
      promptTokens: counts.promptTokens,
      completionTokens: counts.completionTokens,
      flavorUsed: usage.flavor,
    });
    return summary;
  }

  /** The service's prompt and the flavor's reduce prompt, as their files are now (checked at each use). */
  private async readTemplates(
    service: SummarizationJobData['service'],
    flavor: FlavorParameters,
  ): Promise<{ template: string; reduceTemplate: string }> {
    // Read at once; a failure of the service's prompt is reported before one of the reduce prompt.
    const [prompt, reducePrompt] = await Promise.allSettled([
      this.prompts.read(service.promptName),
      flavor.reduceSummary ? this.prompts.read(flavor.reduce_prompt ?? service.promptName) : undefined,
    ]);
    if (prompt.status === 'rejected') throw prompt.reason;
    if (reducePrompt.status === 'rejected') throw reducePrompt.reason;
    return { template: prompt.value.template, reduceTemplate: (reducePrompt.value ?? prompt.value).template };
  }

  /**
   * The cached result of this job's key, waiting for an identical job that is running to finish
   * (single flight); undefined once this job holds the key's run lease and must run itself. A
   * holder that dies lets its lease expire, and a waiting job takes it over.
   */
  private async cachedResultOrLease(
    job: Job<SummarizationJobData, string>,
    cacheKey: string,
  ): Promise<{ result: CachedResult; isShared: boolean } | undefined> {
    const jobId = job.id ?? '';
    let waitedFor: string | undefined;
    for (;;) {
      const lookup = await this.cache.lookUp(cacheKey, jobId);
      switch (lookup.kind) {
        case 'hit':
          return { result: lookup.result, isShared: waitedFor !== undefined };
        case 'run':
          return undefined;
        case 'wait':
          if (waitedFor !== lookup.holderJobId) {
            waitedFor = lookup.holderJobId;
            this.logger.log({
              message: `Job ${jobId} waits for job ${waitedFor}, an identical request running now`,
              ...jobFields(job, this.queueLabel),
            });
          }
          if (this.stopping.signal.aborted) throw new Error('worker stopping');
          if (await this.state.isCancelled(jobId)) throw new UnrecoverableError(CANCELLED_REASON);
          await sleep(CACHE_WAIT_POLL_MS);
          break;
      }
    }
  }

  /** A job answered by the cache: a complete job like any other, its usage marked `cached`. */
  private async completeFromCache(
    job: Job<SummarizationJobData, string>,
    cached: { result: CachedResult; isShared: boolean },
    startedAt: number,
  ): Promise<string> {
    const jobId = job.id ?? '';
    const fields = jobFields(job, this.queueLabel);
    const durationMs = Math.round(performance.now() - startedAt);
    await this.state.saveUsage(jobId, {
      calls: 0,
      promptTokens: 0,
      completionTokens: 0,
      durationMs,
      flavor: cached.result.usage.flavor,
      cached: true,
    });
    await this.state.forgetRun(jobId);
    this.metrics.resultCacheHit(fields.service, fields.flavor, cached.isShared ? 'shared' : 'stored');
    this.metrics.jobEnded(fields.service, fields.flavor, 'completed', (Date.now() - job.timestamp) / 1000);
    this.logger.log({
      message: `Job ${jobId} completed in ${durationMs} ms from the result cache (${cached.isShared ? 'the run of an identical job' : 'a kept result'}, no LLM call)`,
      ...fields,
      durationMs,
      flavorUsed: cached.result.usage.flavor,
    });
    return cached.result.summary;
  }

  /**
   * The pipeline on the job's flavor, then on each flavor of its fallback chain in turn while a
   * model fails (docs/api.md, "Failover"). A flavor whose prompt alone fills its context can run
   * no text: the job starts on the first flavor of the chain that can. A failover keeps the
   * checkpoint when the next flavor plans the text the same way (isPlanShared), else the job
   * starts over on it. Returns the summary and the flavor that produced it.
   */
  private async runWithFailover(
    job: Job<SummarizationJobData, string>,
    text: Uint8Array,
    requestedTemplates: { template: string; reduceTemplate: string },
    savedRun: { checkpoint: unknown; switchedFlavor: string | undefined },
    usage: { calls: number; promptTokens: number; completionTokens: number },
    usageSoFar: () => UsageCounts,
  ): Promise<{ summary: string; flavor: FlavorParameters }> {
    const jobId = job.id ?? '';
    const { service } = job.data;
    const fields = jobFields(job, this.queueLabel);
    const chain = [job.data.flavor, ...(job.data.fallbackFlavors ?? [])];
    // A job resumed after a failover goes on with the flavor it had switched to.
    const switchedTo = savedRun.switchedFlavor;
    // The checkpoint read when the job started, for its first run only: a failover changes it.
    let savedCheckpoint: { checkpoint: unknown } | undefined = { checkpoint: savedRun.checkpoint };
    let index = Math.max(
      0,
      chain.findIndex((candidate) => candidate.name === switchedTo),
    );
    let templates =
      index === 0 ? requestedTemplates : await this.readTemplates(service, chain[index] ?? job.data.flavor);
    for (;;) {
      const flavor = chain[index] ?? job.data.flavor;
      const next = chain[index + 1];
      const switchTo = async (reason: string, isStartingOver: boolean) => {
        if (!next) return;
        savedCheckpoint = undefined; // read again: switching may drop it
        await this.state.switchFlavor(jobId, next.name, isStartingOver);
        this.logger.warn({
          message: `Job ${jobId}: ${reason}; it goes on with its fallback flavor ${next.name}${isStartingOver ? ' from the start' : ' from its checkpoint'}`,
          ...fields,
          failedFlavor: flavor.name,
          fallbackFlavor: next.name,
        });
        templates = await this.readTemplates(service, next);
        index += 1;
      };
      if (next) {
        const tokenizer = this.tokenizers.forFlavor(service.route, flavor);
        const promptTokens = tokenizer.count(
          fillTemplate(templates.template, service.fields === 2 ? ['', ''] : ['']),
        );
        if (!hasRoomForText(flavor, promptTokens)) {
          await switchTo(
            `flavor ${flavor.name} has no room for any text (its prompt alone takes ${promptTokens} tokens of totalContextLength ${flavor.totalContextLength} after maxGenerationLength ${flavor.maxGenerationLength})`,
            true,
          );
          continue;
        }
      }
      try {
        const saved = savedCheckpoint;
        savedCheckpoint = undefined;
        return {
          summary: await this.runPipeline(job, text, flavor, templates, usage, usageSoFar, saved),
          flavor,
        };
      } catch (error) {
        if (!next || !isFailoverError(error) || this.stopping.signal.aborted) throw error;
        const isSameTokenizer =
          this.tokenizers.forFlavor(service.route, flavor) === this.tokenizers.forFlavor(service.route, next);
        await switchTo(
          `flavor ${flavor.name} failed (${error instanceof Error ? error.message : String(error)})`,
          !(isSameTokenizer && isPlanShared(flavor, next)),
        );
      }
    }
  }

  /**
   * The pipeline on one flavor, from the job's checkpoint: `summarize()` with the calls, the
   * checkpoints, the progress and the cancellation wired to Redis and the LLM. Adds each call's
   * tokens to `usage`.
   */
  private async runPipeline(
    job: Job<SummarizationJobData, string>,
    text: Uint8Array,
    flavor: FlavorParameters,
    templates: { template: string; reduceTemplate: string },
    usage: { calls: number; promptTokens: number; completionTokens: number },
    usageSoFar: () => UsageCounts,
    saved?: { checkpoint: unknown },
  ): Promise<string> {
    const jobId = job.id ?? '';
    const { service } = job.data;
    const fields = jobFields(job, this.queueLabel);
    const tokenizer = this.tokenizers.forFlavor(service.route, flavor);
    const checkpoint = checkpointFromSaved(saved ? saved.checkpoint : await this.state.readCheckpoint(jobId));
    // Written while the text is split; every progress report waits for them (they come first).
    const startWrites = checkpoint
      ? Promise.resolve()
      : Promise.all([
          this.state.startFresh(jobId),
          job.updateProgress({ phase: 'started' } satisfies JobProgress),
        ]).then(() => undefined);
    startWrites.catch(() => undefined); // reported by the first progress report, which awaits them
    if (!checkpoint) {
      this.logger.log({ message: `Job ${jobId} started`, ...fields });
    } else {
      this.logger.log({ message: `Job ${jobId} resumes from its checkpoint`, ...fields });
    }
    // Lines are appended after the checkpoint that holds them is saved: the list never runs ahead.
    let publishedLineCount = checkpoint ? await this.state.partialLineCount(jobId) : 0;
    // What this run's checkpoints wrote already: each save writes the rest (a run's first, all).
    const writtenAnswers = new Set<number>();
    let areBatchesWritten = false;
    let writtenLineCount = 0;
    let lastReported: ReportedProgress | undefined;

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
    return summarize(
      {
        fields: service.fields,
        flavor,
        template: templates.template,
        reduceTemplate: templates.reduceTemplate,
        tokenizer,
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
          usage.calls += 1;
          usage.promptTokens += completion.promptTokens ?? promptTokens;
          // The server's counts when it sends them (docs/api.md, "Usage"), else ours.
          usage.completionTokens += completion.completionTokens ?? tokenizer.count(completion.content);
          return completion.content;
        },
        // The usage rides with the checkpoint (one write): a resumed job reports all its calls.
        saveCheckpoint: async (next) => {
          if (next.kind === 'progressive') {
            // Only the summary lines this run has not written yet.
            const { summaryLines, ...header } = next;
            await this.state.saveProgressiveCheckpoint(
              jobId,
              { ...header, usage: usageSoFar() },
              summaryLines,
              writtenLineCount,
            );
            writtenLineCount = summaryLines.length;
            return;
          }
          // Map mode: only the answers this run has not written yet (and its batches once).
          const newAnswers: [number, string[]][] = [];
          next.answers.forEach((lines, index) => {
            if (lines && !writtenAnswers.has(index)) newAnswers.push([index, lines]);
          });
          await this.state.saveMapCheckpoint(
            jobId,
            { kind: 'map', usage: usageSoFar() },
            areBatchesWritten ? undefined : next.batches,
            newAnswers,
          );
          for (const [index] of newAnswers) writtenAnswers.add(index);
          areBatchesWritten = true;
        },
        reportProgress: async (turnsDone, totalTurns, summarySoFar) => {
          await startWrites;
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
        // The job's bytes: this event loop never decodes a large text.
        splitText: (maxTokensPerTurn, tokenizer, batchLimits) => {
          // Split within a few milliseconds: the first call's permit is taken meanwhile.
          if (this.turnSplitter.isQuick(text, tokenizer)) this.inference.reservePermit();
          return this.turnSplitter.split(text, maxTokensPerTurn, tokenizer, batchLimits);
        },
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
