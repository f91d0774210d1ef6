import {
  httpStatusOf,
  jobStatusBody,
  type JobSnapshot,
  readJobProgress,
  readJobUsage,
} from './job-status.util';

const usage = { calls: 3, promptTokens: 900, completionTokens: 120, durationMs: 450, flavor: 'small' };

const now = 1_000_000_000;
const ttl = 60;

describe('jobStatusBody and httpStatusOf (docs/api.md section 4)', () => {
  it.each<[JobSnapshot, object, number]>([
    [{ state: 'waiting' }, { status: 'queued', message: 'Task is in queue' }, 202],
    [{ state: 'active', progress: 0 }, { status: 'started', message: 'Task started' }, 202],
    [
      { state: 'active', progress: { phase: 'started' } },
      { status: 'started', message: 'Task started' },
      202,
    ],
    [
      { state: 'active', progress: { phase: 'processing', turnsDone: 0, totalTurns: 10 } },
      { status: 'processing', message: 'Task is in progress', progress: '0' },
      202,
    ],
    [
      { state: 'active', progress: { phase: 'processing', turnsDone: 42, totalTurns: 100 } },
      { status: 'processing', message: 'Task is in progress', progress: '42' },
      202,
    ],
    [
      { state: 'active', progress: { phase: 'processing', turnsDone: 2, totalTurns: 3 } },
      { status: 'processing', message: 'Task is in progress', progress: '67' },
      202,
    ],
    [
      { state: 'completed', result: '  Alice : hi\n', finishedOn: now - 1000 },
      { status: 'complete', message: 'success', summarization: 'Alice : hi' },
      200,
    ],
    [
      { state: 'completed', result: 'Alice : hi', finishedOn: now - 1000, usage },
      { status: 'complete', message: 'success', summarization: 'Alice : hi', usage },
      200,
    ],
    [
      { state: 'failed', reason: 'LLM call failed after 6 attempts: 500 boom', finishedOn: now },
      {
        status: 'error',
        message: 'Task failed',
        details: 'LLM call failed after 6 attempts: 500 boom',
        error: 'LLM call failed after 6 attempts: 500 boom',
      },
      500,
    ],
    [{ state: 'missing', isCancelled: false }, { status: 'unknown', message: 'Task does not exist' }, 404],
    [
      { state: 'missing', isCancelled: true },
      { status: 'error', message: 'Task failed', details: 'cancelled', error: 'cancelled' },
      500,
    ],
    [
      { state: 'completed', result: 'x', finishedOn: now - 61_000 },
      { status: 'unknown', message: 'Task does not exist' },
      404,
    ],
    [
      { state: 'failed', reason: 'x', finishedOn: now - 61_000 },
      { status: 'unknown', message: 'Task does not exist' },
      404,
    ],
  ])('%p', (snapshot, body, status) => {
    const result = jobStatusBody(snapshot, now, ttl);
    expect(result).toEqual(body);
    expect(httpStatusOf(result)).toBe(status);
  });
});

describe('readJobProgress', () => {
  it.each<[unknown, object | undefined]>([
    [undefined, undefined],
    [0, undefined],
    ['{"phase":"started"}', undefined],
    [{ phase: 'started' }, { phase: 'started' }],
    [{ phase: 'processing', turnsDone: 1 }, undefined],
    [{ phase: 'other', turnsDone: 1, totalTurns: 2 }, undefined],
    // Written before partial summaries existed.
    [
      { phase: 'processing', turnsDone: 1, totalTurns: 2 },
      { phase: 'processing', turnsDone: 1, totalTurns: 2, summaryLineCount: 0, newSummaryLines: [] },
    ],
    [
      {
        phase: 'processing',
        turnsDone: 3,
        totalTurns: 9,
        summaryLineCount: 5,
        newSummaryLines: ['a', 7, 'b'],
      },
      { phase: 'processing', turnsDone: 3, totalTurns: 9, summaryLineCount: 5, newSummaryLines: ['a', 'b'] },
    ],
  ])('%p', (raw, expected) => {
    expect(readJobProgress(raw)).toEqual(expected);
  });
});

describe('readJobUsage', () => {
  it.each<[unknown, object | undefined]>([
    [usage, usage],
    [
      { ...usage, cached: true },
      { ...usage, cached: true },
    ],
    [{ ...usage, cached: 'yes' }, usage],
    [{ ...usage, calls: -1 }, undefined],
    [{ ...usage, promptTokens: '9' }, undefined],
    [{ ...usage, flavor: undefined }, undefined],
    [{ ...usage, durationMs: Number.NaN }, undefined],
    ['{"calls":1}', undefined],
    [null, undefined],
  ])('%j reads as %j', (raw, expected) => {
    expect(readJobUsage(raw)).toEqual(expected);
  });
});
