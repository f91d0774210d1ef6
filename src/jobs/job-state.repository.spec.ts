import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { requiredTestRedisUrl } from '../../test/support/gateway';
import { JobStateRepository } from './job-state.repository';

const TTL_SECONDS = 600;

/**
 * The acceptance a new job gets in the round trip that stores it (docs/architecture.md, "The
 * write path"), against the run's real redis-server (test/support/global-setup.ts).
 */
describe('JobStateRepository.acceptIfStored', () => {
  let redis: Redis;
  let state: JobStateRepository;

  beforeAll(() => {
    redis = new Redis(requiredTestRedisUrl());
    state = new JobStateRepository(redis, TTL_SECONDS);
  });
  afterAll(async () => {
    await redis.quit();
  });

  const keysOf = (jobId: string) => ({
    job: `test:acceptance:job:${jobId}`,
    text: `llm-gateway:text:${jobId}`,
    admission: `llm-gateway:admission:${jobId}`,
  });

  it.each([
    { stored: ['job', 'text'], decided: undefined, answer: 'accepted', admission: 'accepted' },
    { stored: ['text'], decided: undefined, answer: 'undecided', admission: null },
    { stored: ['job'], decided: undefined, answer: 'undecided', admission: null },
    { stored: [], decided: undefined, answer: 'undecided', admission: null },
    { stored: ['job', 'text'], decided: 'refused', answer: 'refused', admission: 'refused' },
    { stored: ['job', 'text'], decided: 'running', answer: 'running', admission: 'running' },
  ] as const)(
    'stored $stored, decided $decided: answers $answer, admission $admission',
    async ({ stored, decided, answer, admission }) => {
      const jobId = randomUUID();
      const keys = keysOf(jobId);
      for (const name of stored) await redis.set(keys[name], 'x', 'EX', 60);
      if (decided) await redis.set(keys.admission, decided, 'EX', 60);

      expect(await state.acceptIfStored(keys.job, jobId)).toBe(answer);
      expect(await redis.get(keys.admission)).toBe(admission);
      if (answer === 'accepted') {
        expect(await redis.ttl(keys.admission)).toBeGreaterThan(TTL_SECONDS - 10);
      }
    },
  );

  it.each([
    { isStored: true, reservedFor: 'this job', ttlAfter: 'RESULT_TTL' },
    { isStored: true, reservedFor: 'another job', ttlAfter: 'reservation' },
    { isStored: false, reservedFor: 'this job', ttlAfter: 'reservation' },
  ] as const)(
    'an Idempotency-Key reserved for $reservedFor, job stored: $isStored: kept for its $ttlAfter',
    async ({ isStored, reservedFor, ttlAfter }) => {
      const jobId = randomUUID();
      const keys = keysOf(jobId);
      const scopedKey = randomUUID();
      const idempotencyKey = `llm-gateway:idempotency:${scopedKey}`;
      await redis.set(idempotencyKey, reservedFor === 'this job' ? jobId : randomUUID(), 'EX', 10);
      if (isStored) await redis.set(keys.job, 'x', 'EX', 60);
      await redis.set(keys.text, 'x', 'EX', 60);

      await state.acceptIfStored(keys.job, jobId, scopedKey);
      const ttl = await redis.ttl(idempotencyKey);
      if (ttlAfter === 'RESULT_TTL') expect(ttl).toBeGreaterThan(TTL_SECONDS - 10);
      else expect(ttl).toBeLessThanOrEqual(10);
    },
  );
});
