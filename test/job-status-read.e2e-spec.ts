// JobsRepository.snapshot reads a job's state, the job and its usage in one round trip. The job or
// the usage may then have been read just before the job finished: a real job on a real Redis is
// read early (before a real BullMQ worker ends it), and that early read is handed to `snapshot`
// once, as the race would; the snapshot must read again and report the job as it ended.
import { Job, Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import { SUMMARIZATION_QUEUE, type JobUsage } from '../src/jobs/job-payload';
import { JobStateRepository } from '../src/jobs/job-state.repository';
import { JobsRepository } from '../src/jobs/jobs.repository';
import { startTestGateway, type TestGateway } from './support/gateway';

const USAGE: JobUsage = { calls: 3, promptTokens: 10, completionTokens: 5, durationMs: 600, flavor: 'llama' };

describe('Job status read in one round trip (JobsRepository.snapshot)', () => {
  let gateway: TestGateway;
  let connection: Redis;
  /** The gateway's queue, as any BullMQ client on its Redis sees it. */
  let queue: Queue;
  let state: JobStateRepository;
  let repository: JobsRepository;

  beforeAll(async () => {
    gateway = await startTestGateway(); // ROLE=api: no worker takes the jobs but the tests'
    connection = new Redis(gateway.redisUrl, { maxRetriesPerRequest: null });
    queue = new Queue(SUMMARIZATION_QUEUE, { connection });
    state = gateway.get(JobStateRepository);
    repository = gateway.get(JobsRepository);
  });
  afterAll(async () => {
    await queue.close();
    connection.disconnect();
    await gateway.close();
  });
  afterEach(() => jest.restoreAllMocks());

  /** A queued job, as read (job and usage) before a worker took it. */
  async function queuedJob(): Promise<{ jobId: string; earlyJob: Job; earlyUsage: JobUsage | undefined }> {
    const response = await fetch(`${gateway.baseUrl}/services/summarize/en/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'Alice : hello\nBob : good morning', flavor: 'llama' }),
    });
    const { jobId } = (await response.json()) as { jobId: string };
    const earlyJob = await Job.fromId(queue, jobId);
    if (!earlyJob) throw new Error(`job ${jobId} was not stored`);
    return { jobId, earlyJob, earlyUsage: await state.readUsage(jobId) };
  }

  /** Ends the job with a real BullMQ worker on the queue: `answer` gives its result or throws. */
  async function endWithWorker(jobId: string, answer: () => string): Promise<void> {
    const workerConnection = new Redis(gateway.redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(queue.name, async () => answer(), { connection: workerConnection });
    try {
      await new Promise<void>((resolve) => {
        const ended = (job: Job | undefined) => {
          if (job?.id === jobId) resolve();
        };
        worker.on('completed', ended);
        worker.on('failed', ended);
      });
    } finally {
      await worker.close();
      workerConnection.disconnect();
    }
  }

  it.each([
    ['after it ended: the job and its usage are read once each', false, 1],
    ['before it completed: the job and its usage are read again', true, 2],
  ])('a completed job whose state, job and usage were read %s', async (_case, isReadEarly, readsEach) => {
    const { jobId, earlyJob, earlyUsage } = await queuedJob();
    expect(earlyUsage).toBeUndefined();
    await state.saveUsage(jobId, USAGE);
    await endWithWorker(jobId, () => 'the summary');
    const jobReads = jest.spyOn(Job, 'fromId');
    const usageReads = jest.spyOn(state, 'readUsage');
    if (isReadEarly) {
      jobReads.mockResolvedValueOnce(earlyJob);
      usageReads.mockResolvedValueOnce(earlyUsage);
    }
    expect(await repository.snapshot(jobId)).toMatchObject({
      state: 'completed',
      result: 'the summary',
      usage: USAGE,
    });
    expect(jobReads).toHaveBeenCalledTimes(readsEach);
    expect(usageReads).toHaveBeenCalledTimes(readsEach);
  });

  it('reads a failed job again when it was read before it failed, and keeps its reason', async () => {
    const { jobId, earlyJob } = await queuedJob();
    await endWithWorker(jobId, () => {
      throw new Error('the model is gone');
    });
    jest.spyOn(Job, 'fromId').mockResolvedValueOnce(earlyJob);
    expect(await repository.snapshot(jobId)).toMatchObject({ state: 'failed', reason: 'the model is gone' });
  });
});
