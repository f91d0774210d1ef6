import { BullModule, getQueueToken, OnWorkerEvent, Processor } from '@nestjs/bullmq';
import { type DynamicModule, Logger, Module } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import type { AppConfig } from '../config/app-config';
import { InferenceModule } from '../inference/inference.module';
import { SUMMARIZATION_QUEUE, type SummarizationJobData } from '../jobs/job-payload';
import { JobStateRepository } from '../jobs/job-state.repository';
import { PromptsModule } from '../prompts/prompts.module';
import { createRedisConnection } from '../redis/redis.client';
import { TokenizersModule } from '../tokenizers/tokenizers.module';
import { ResultCacheRepository } from './result-cache.repository';
import { SummarizationProcessor, WORKER_CONNECTION } from './summarization.processor';
import { TurnSplitter } from './turn-splitter.client';
import { VocabularyPreloader } from './vocabulary-preloader.service';

/** Nothing to inject: the provider exists for the listener it adds to the worker's queue handle. */
const QUEUE_ERRORS_HANDLED = Symbol('worker queue errors handled');

/**
 * The worker side: the BullMQ worker (a @nestjs/bullmq `WorkerHost`) running the pipeline.
 *
 * `@Processor` options are static in @nestjs/bullmq, and ours come from the configuration
 * (CONCURRENCY, JOB_LOCK_SECONDS, the Redis URL): `forRoot` decorates a subclass made for this
 * configuration, so two gateways in one process (tests) never share options. The worker runs on
 * its own patient connection (commands wait through a Redis blip; BullMQ requires it of workers
 * and duplicates it for its blocking reads), never on the API's fail-fast one, even in ROLE=all
 * where the API's queue is registered too.
 */
@Module({})
export class PipelineModule {
  static forRoot(config: AppConfig): DynamicModule {
    // Closed by the processor once its worker has let its jobs go. Not lazy: BullMQ never
    // recovers a worker whose first connect() failed, while this one keeps reconnecting.
    const connection = createRedisConnection(config, 'worker', 'patient');
    connection.on('error', () => undefined); // the worker's own 'error' event reports it
    let isReportingOutage = false;
    connection.on('ready', () => {
      isReportingOutage = false;
    });

    const lockMs = config.jobLockSeconds * 1000;
    @Processor(SUMMARIZATION_QUEUE, {
      connection,
      concurrency: config.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: 2,
    })
    class ConfiguredSummarizationProcessor extends SummarizationProcessor {
      private readonly events = new Logger(SummarizationProcessor.name);

      /** Every reconnection attempt fails while Redis is away: one warning per outage. */
      @OnWorkerEvent('error')
      onWorkerError(error: Error): void {
        if (isReportingOutage) return;
        isReportingOutage = connection.status !== 'ready';
        this.events.warn(
          `Queue worker: ${error.message}${isReportingOutage ? '; retrying in the background' : ''}`,
        );
      }

      /** Failed or cancelled: one line and the metrics (a cancellation is no warning). */
      @OnWorkerEvent('failed')
      onJobFailed(job: Job<SummarizationJobData, string> | undefined, error: Error): void {
        if (job) this.reportFailure(job, error);
      }
    }

    return {
      module: PipelineModule,
      imports: [
        // The worker's own handle on the queue; it also brings @nestjs/bullmq's explorer, which
        // builds the worker in every role (ROLE=worker registers no API queue).
        BullModule.registerQueue({ name: SUMMARIZATION_QUEUE, connection }),
        PromptsModule,
        TokenizersModule,
        InferenceModule,
      ],
      providers: [
        { provide: WORKER_CONNECTION, useValue: connection },
        {
          // The worker's queue handle emits 'error' when its connection fails (or is closed while
          // it still starts: a worker stopped at once); unlistened, that error ends the process.
          // The worker's own 'error' event reports outages.
          provide: QUEUE_ERRORS_HANDLED,
          inject: [getQueueToken(SUMMARIZATION_QUEUE)],
          useFactory: (queue: Queue) => queue.on('error', () => undefined),
        },
        { provide: SummarizationProcessor, useClass: ConfiguredSummarizationProcessor },
        // The split threads and the vocabularies: ready when the worker starts, not at its first job.
        TurnSplitter,
        VocabularyPreloader,
        {
          provide: JobStateRepository,
          useFactory: () => new JobStateRepository(connection, config.resultTtlSeconds),
        },
        {
          provide: ResultCacheRepository,
          // A running job's lease lasts as long as its lock: a dead worker's lease frees itself as
          // soon as its job could be resumed elsewhere.
          useFactory: () => new ResultCacheRepository(connection, config.resultCacheTtlSeconds, lockMs),
        },
      ],
    };
  }
}
