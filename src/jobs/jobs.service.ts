import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { SummarizationJobData } from './job-payload';
import { httpStatusOf, jobStatusBody, type JobStatusBody } from './job-status.util';
import { JobsRepository } from './jobs.repository';

export interface JobResult {
  httpStatus: number;
  body: JobStatusBody;
}

@Injectable()
export class JobsService {
  constructor(
    private readonly jobs: JobsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  enqueue(data: SummarizationJobData): Promise<string> {
    return this.jobs.enqueue(data);
  }

  async result(jobId: string): Promise<JobResult> {
    const body = jobStatusBody(await this.jobs.snapshot(jobId), Date.now(), this.config.resultTtlSeconds);
    return { httpStatus: httpStatusOf(body), body };
  }

  async cancelOrDelete(jobId: string): Promise<{ status: 'cancelled' | 'deleted'; message: string }> {
    const outcome = await this.jobs.cancelOrDelete(jobId);
    return outcome === 'cancelled'
      ? { status: 'cancelled', message: 'Task cancelled' }
      : { status: 'deleted', message: 'Task deleted' };
  }
}
