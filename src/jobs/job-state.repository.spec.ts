import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { requiredTestRedisUrl } from '../../test/support/gateway';
import { JobStateRepository } from './job-state.repository';

const TTL_SECONDS = 600;

// Against the run's real redis-server (test/support/global-setup.ts).
let redis: Redis;
let state: JobStateRepository;

beforeAll(() => {
  redis = new Redis(requiredTestRedisUrl());
  state = new JobStateRepository(redis, TTL_SECONDS);
});
afterAll(async () => {
  await redis.quit();
});

/**
 * The text and acceptance a new job gets in the round trip that stores it (docs/architecture.md,
 * "The write path"), against the run's real redis-server (test/support/global-setup.ts).
 */
describe('JobStateRepository.storeTextsAndAccept', () => {
  const keysOf = (jobId: string) => ({
    job: `test:acceptance:job:${jobId}`,
    text: `llm-gateway:text:${jobId}`,
    admission: `llm-gateway:admission:${jobId}`,
  });

  it.each([
    { isJobStored: true, decided: undefined, answer: 'accepted', admission: 'accepted', text: 'the text' },
    { isJobStored: false, decided: undefined, answer: 'undecided', admission: null, text: null },
    { isJobStored: true, decided: 'refused', answer: 'refused', admission: 'refused', text: null },
    { isJobStored: true, decided: 'running', answer: 'running', admission: 'running', text: null },
  ] as const)(
    'job stored: $isJobStored, decided $decided: answers $answer, admission $admission, text $text',
    async ({ isJobStored, decided, answer, admission, text }) => {
      const jobId = randomUUID();
      const keys = keysOf(jobId);
      if (isJobStored) await redis.set(keys.job, 'x', 'EX', 60);
      if (decided) await redis.set(keys.admission, decided, 'EX', 60);

      expect(await state.storeTextsAndAccept([{ jobKey: keys.job, jobId, text: 'the text' }])).toEqual([
        answer,
      ]);
      expect(await redis.get(keys.admission)).toBe(admission);
      expect(await redis.get(keys.text)).toBe(text);
      if (answer === 'accepted') {
        expect(await redis.ttl(keys.admission)).toBeGreaterThan(TTL_SECONDS - 10);
        expect(await redis.ttl(keys.text)).toBeGreaterThan(TTL_SECONDS - 10);
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

      await state.storeTextsAndAccept([
        { jobKey: keys.job, jobId, text: 'the text', idempotencyScopedKey: scopedKey },
      ]);
      const ttl = await redis.ttl(idempotencyKey);
      if (ttlAfter === 'RESULT_TTL') expect(ttl).toBeGreaterThan(TTL_SECONDS - 10);
      else expect(ttl).toBeLessThanOrEqual(10);
    },
  );

  it('decides several jobs in one call, each on its own keys, answers in order', async () => {
    const jobs = Array.from({ length: 4 }, (_, index) => ({ jobId: randomUUID(), text: `text ${index}` }));
    const [stored, missing, refused, keyed] = jobs.map((job) => ({ ...job, keys: keysOf(job.jobId) }));
    if (!stored || !missing || !refused || !keyed) throw new Error('four jobs expected');
    for (const job of [stored, refused, keyed]) await redis.set(job.keys.job, 'x', 'EX', 60);
    await redis.set(refused.keys.admission, 'refused', 'EX', 60);
    const scopedKey = randomUUID();
    await redis.set(`llm-gateway:idempotency:${scopedKey}`, keyed.jobId, 'EX', 10);

    const answers = await state.storeTextsAndAccept(
      [stored, missing, refused, keyed].map((job) => ({
        jobKey: job.keys.job,
        jobId: job.jobId,
        text: job.text,
        ...(job === keyed ? { idempotencyScopedKey: scopedKey } : {}),
      })),
    );

    expect(answers).toEqual(['accepted', 'undecided', 'refused', 'accepted']);
    const texts = await Promise.all([stored, missing, refused, keyed].map((job) => redis.get(job.keys.text)));
    expect(texts).toEqual(['text 0', null, null, 'text 3']);
    expect(await redis.ttl(`llm-gateway:idempotency:${scopedKey}`)).toBeGreaterThan(TTL_SECONDS - 10);
  });
});

/** Map checkpoints written as they grow, read back whole, against the run's real redis-server. */
describe('JobStateRepository map checkpoints', () => {
  const batches = [
    { start: 0, end: 2 },
    { start: 2, end: 4 },
    { start: 4, end: 5 },
  ];

  it('reads back every answer written over several saves, each save sending only the new ones', async () => {
    const jobId = randomUUID();
    await state.saveMapCheckpoint(jobId, { kind: 'map', usage: { calls: 1 } }, batches, [[1, ['b1', 'b2']]]);
    await state.saveMapCheckpoint(jobId, { kind: 'map', usage: { calls: 3 } }, undefined, [
      [0, ['a1']],
      [2, []],
    ]);
    expect(await state.readCheckpoint(jobId)).toEqual({
      kind: 'map',
      usage: { calls: 3 },
      batches,
      answers: [['a1'], ['b1', 'b2'], []],
    });
    // The second save sent one batch's answers, not the first save's again.
    expect(await redis.hlen(`llm-gateway:checkpoint-answers:${jobId}`)).toBe(4); // batches + 3 answers
    expect(await redis.ttl(`llm-gateway:checkpoint-answers:${jobId}`)).toBeGreaterThan(0);
  });

  it('gives null for a batch not answered yet, and writes more answers than one Lua unpack takes', async () => {
    const jobId = randomUUID();
    const many = Array.from({ length: 5_000 }, (_, index) => ({ start: index, end: index + 1 }));
    const answered = many
      .map((_, index) => [index, [`line ${index}`]] as const)
      .filter(([index]) => index !== 7);
    await state.saveMapCheckpoint(jobId, { kind: 'map' }, many, answered);
    const read = (await state.readCheckpoint(jobId)) as { answers: (string[] | null)[] };
    expect(read.answers).toHaveLength(5_000);
    expect(read.answers[7]).toBeNull();
    expect(read.answers[4_999]).toEqual(['line 4999']);
  });

  it('still reads a checkpoint saved whole (before answers were kept apart)', async () => {
    const jobId = randomUUID();
    const whole = { kind: 'map', answers: [['a'], null], batches: batches.slice(0, 2) };
    await state.saveCheckpoint(jobId, whole);
    expect(await state.readCheckpoint(jobId)).toEqual(whole);
  });

  it('saves nothing for a cancelled job, and forgets both keys when the run ends', async () => {
    const cancelled = randomUUID();
    await state.markCancelled(cancelled);
    await state.saveMapCheckpoint(cancelled, { kind: 'map' }, batches, [[0, ['a']]]);
    expect(await state.readCheckpoint(cancelled)).toBeUndefined();
    expect(await redis.exists(`llm-gateway:checkpoint-answers:${cancelled}`)).toBe(0);

    const finished = randomUUID();
    await state.saveMapCheckpoint(finished, { kind: 'map' }, batches, [[0, ['a']]]);
    await state.forgetRun(finished);
    expect(
      await redis.exists(`llm-gateway:checkpoint:${finished}`, `llm-gateway:checkpoint-answers:${finished}`),
    ).toBe(0);
  });

  it('progressive: summary lines appended save after save, a new run rewriting them once, old checkpoints still read', async () => {
    const jobId = randomUUID();
    await state.saveProgressiveCheckpoint(jobId, { kind: 'progressive', nextTurn: 3 }, ['a', 'b'], 0);
    await state.saveProgressiveCheckpoint(jobId, { kind: 'progressive', nextTurn: 6 }, ['a', 'b', 'c'], 2);
    expect(await state.readCheckpoint(jobId)).toEqual({
      kind: 'progressive',
      nextTurn: 6,
      summaryLines: ['a', 'b', 'c'],
    });
    // The second save sent one line, not three.
    expect(await redis.llen(`llm-gateway:checkpoint-lines:${jobId}`)).toBe(3);
    // A resumed run writes every line at its first save, over whatever the list held.
    await state.saveProgressiveCheckpoint(
      jobId,
      { kind: 'progressive', nextTurn: 9 },
      ['a', 'b', 'c', 'd'],
      0,
    );
    expect(await state.readCheckpoint(jobId)).toMatchObject({
      nextTurn: 9,
      summaryLines: ['a', 'b', 'c', 'd'],
    });

    const old = randomUUID();
    const whole = { kind: 'progressive', nextTurn: 2, summaryLines: ['x'] };
    await state.saveCheckpoint(old, whole);
    expect(await state.readCheckpoint(old)).toEqual(whole);
    await state.forgetRun(jobId);
    expect(await redis.exists(`llm-gateway:checkpoint-lines:${jobId}`)).toBe(0);
  });
});
