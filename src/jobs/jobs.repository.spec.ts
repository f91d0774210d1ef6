import { Job, type Queue } from 'bullmq';
import type { AppConfig } from '../config/app-config';
import type { RedisClient } from '../redis/redis.client';
import type { JobUsage, SummarizationJobData } from './job-payload';
import type { JobStateRepository } from './job-state.repository';
import { JobsRepository } from './jobs.repository';

const USAGE: JobUsage = { calls: 3, promptTokens: 10, completionTokens: 5, durationMs: 600, flavor: 'small' };
const FINISHED_ON = 1_700_000_000_000;

/** The job as Job.fromId gives it: read before it completed, or after. */
const jobRead = (isFinished: boolean) =>
  ({
    returnvalue: isFinished ? 'the summary' : null,
    finishedOn: isFinished ? FINISHED_ON : undefined,
    progress: 0,
  }) as unknown as Job<SummarizationJobData, string>;

/** A repository whose queue says `state`, whose job reads give `jobReads` and usage reads `usageReads`, in turn. */
function repositoryReading(
  state: string,
  jobReads: Job<SummarizationJobData, string>[],
  usageReads: (JobUsage | undefined)[],
) {
  const queue = { on: () => queue, getJobState: async () => state } as unknown as Queue;
  const fromId = jest.spyOn(Job, 'fromId').mockImplementation(async () => jobReads.shift());
  const readUsage = jest.fn(async () => usageReads.shift());
  const repository = new JobsRepository(
    {} as AppConfig,
    queue as Queue<SummarizationJobData, string>,
    { readUsage } as unknown as JobStateRepository,
    {} as RedisClient,
  );
  return { repository, fromId, readUsage };
}

describe('JobsRepository.snapshot', () => {
  afterEach(() => jest.restoreAllMocks());

  it('reads a completed job, its result and its usage once each', async () => {
    const { repository, fromId, readUsage } = repositoryReading('completed', [jobRead(true)], [USAGE]);
    expect(await repository.snapshot('job-1')).toEqual({
      state: 'completed',
      result: 'the summary',
      finishedOn: FINISHED_ON,
      usage: USAGE,
    });
    expect(fromId).toHaveBeenCalledTimes(1);
    expect(readUsage).toHaveBeenCalledTimes(1);
  });

  it('reads the job and its usage again when they were read before the job completed', async () => {
    const { repository, fromId, readUsage } = repositoryReading(
      'completed',
      [jobRead(false), jobRead(true)],
      [undefined, USAGE],
    );
    expect(await repository.snapshot('job-1')).toEqual({
      state: 'completed',
      result: 'the summary',
      finishedOn: FINISHED_ON,
      usage: USAGE,
    });
    expect(fromId).toHaveBeenCalledTimes(2);
    expect(readUsage).toHaveBeenCalledTimes(2);
  });

  it('reads a failed job again when it was read before it failed', async () => {
    const failed = Object.assign(jobRead(true), { failedReason: 'the model is gone' });
    const { repository } = repositoryReading('failed', [jobRead(false), failed], [undefined]);
    expect(await repository.snapshot('job-1')).toEqual({
      state: 'failed',
      reason: 'the model is gone',
      finishedOn: FINISHED_ON,
    });
  });
});
