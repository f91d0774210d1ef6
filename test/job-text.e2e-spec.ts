import type { Job } from 'bullmq';
import Redis from 'ioredis';
import type { SummarizationJobData } from '../src/jobs/job-payload';
import { JobStateRepository } from '../src/jobs/job-state.repository';
import { type RedisServerHandle, startRedisServer } from './support/redis-server';

/** Only what readTextBytes reads of a job. */
function jobWithText(id: string, data: Partial<SummarizationJobData>): Job<SummarizationJobData, string> {
  return { id, data } as unknown as Job<SummarizationJobData, string>;
}

const decoded = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

describe('a job text read as bytes (JobStateRepository.readTextBytes), against a real Redis', () => {
  let server: RedisServerHandle;
  let redis: Redis;
  let state: JobStateRepository;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url);
    state = new JobStateRepository(redis, 60);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('reads a text of several 1 MiB pieces whole, characters cut between pieces included, into shared memory', async () => {
    // 3-byte and 4-byte characters shift every piece boundary into the middle of one.
    const text = 'Zoë : 你好 😀 e\u0301\n'.repeat(150_000);
    expect(Buffer.byteLength(text)).toBeGreaterThan(3 * 1024 * 1024);
    await state.saveText('several-pieces', text);
    const bytes = await state.readTextBytes(jobWithText('several-pieces', { isTextStoredApart: true }));
    expect(bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(decoded(bytes)).toBe(text);
  });

  it('reads an empty text as no bytes', async () => {
    await state.saveText('empty', '');
    expect(decoded(await state.readTextBytes(jobWithText('empty', { isTextStoredApart: true })))).toBe('');
  });

  it('refuses a job whose text is gone (cancelled or expired)', async () => {
    await state.saveText('gone', 'Alice : hello');
    await state.deleteText('gone');
    await expect(state.readTextBytes(jobWithText('gone', { isTextStoredApart: true }))).rejects.toThrow(
      'its text is no longer stored (cancelled or expired)',
    );
  });

  it('reads the text of a job queued before texts had their own key from the job', async () => {
    const bytes = await state.readTextBytes(jobWithText('old', { text: 'Zoë : 你好' }));
    expect(decoded(bytes)).toBe('Zoë : 你好');
  });
});
