import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { brokerLabel } from '../config/config-values.util';
import { MetricsService } from '../metrics/metrics.service';
import { SUMMARIZATION_QUEUE, type SummarizationJobData } from './job-payload';
import { httpStatusOf, jobStatusBody, type JobStatusBody, readJobProgress } from './job-status.util';
import { JobsRepository } from './jobs.repository';

export interface JobResult {
  httpStatus: number;
  body: JobStatusBody;
}

@Injectable()
export class JobsService {
  private readonly logger = new Logger('Jobs');
  /**
   * The queue a job line names: two gateways naming different ones never share jobs. Made once:
   * parsing the broker URL for every submission cost about 1 % of its CPU time.
   */
  private readonly queueLabel: string;

  constructor(
    private readonly jobs: JobsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    // Read only, for the counts /metrics reports (JobsRepository writes the jobs).
    @InjectQueue(SUMMARIZATION_QUEUE) private readonly queue: Queue<SummarizationJobData, string>,
  ) {
    this.queueLabel = `${SUMMARIZATION_QUEUE} on ${brokerLabel(config.redis.url)}`;
    metrics.reportQueueCountsFrom(() => this.countsByState());
  }

  /** `idempotencyScopedKey`: a digest of the client's Idempotency-Key and API key (ServicesService). */
  async enqueue(data: SummarizationJobData, idempotencyScopedKey?: string): Promise<string> {
    const jobId = await this.jobs.enqueue(data, idempotencyScopedKey);
    const fields = { jobId, service: data.service.route, flavor: data.flavor.name, queue: this.queueLabel };
    this.metrics.jobAccepted(fields.service, fields.flavor);
    this.logger.log({ message: `Job ${jobId} queued`, ...fields });
    return jobId;
  }

  /** Jobs in the queue per BullMQ state (waiting, active, delayed, completed, failed, ...). */
  countsByState(): Promise<Record<string, number>> {
    return this.queue.getJobCounts();
  }

  async result(jobId: string): Promise<JobResult> {
    const body = await this.status(jobId);
    return { httpStatus: httpStatusOf(body), body };
  }

  /** The job's state as read from Redis now (docs/api.md section 4 bodies). */
  async status(jobId: string): Promise<JobStatusBody> {
    return jobStatusBody(await this.jobs.snapshot(jobId), Date.now(), this.config.resultTtlSeconds);
  }

  /**
   * The state a BullMQ `progress` event announces for a running job, and the partial summary
   * lines it carries; undefined when the event's data is not a JobProgress.
   */
  statusOfProgress(
    data: unknown,
  ): { body: JobStatusBody; summaryLineCount: number; newSummaryLines: string[] } | undefined {
    const progress = readJobProgress(data);
    if (!progress) return undefined;
    const body = jobStatusBody({ state: 'active', progress }, Date.now(), this.config.resultTtlSeconds);
    return progress.phase === 'processing'
      ? { body, summaryLineCount: progress.summaryLineCount, newSummaryLines: progress.newSummaryLines }
      : { body, summaryLineCount: 0, newSummaryLines: [] };
  }

  /** Where a reader of the queue's event stream starts so that it misses nothing. */
  lastEventId(): Promise<string> {
    return this.jobs.lastEventId();
  }

  partialSummary(jobId: string, fromLine: number): Promise<string[]> {
    return this.jobs.partialSummary(jobId, fromLine);
  }

  async cancelOrDelete(jobId: string): Promise<{ status: 'cancelled' | 'deleted'; message: string }> {
    const outcome = await this.jobs.cancelOrDelete(jobId);
    return outcome === 'cancelled'
      ? { status: 'cancelled', message: 'Task cancelled' }
      : { status: 'deleted', message: 'Task deleted' };
  }
}
