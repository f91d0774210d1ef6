import { backoffDelayMs, classifyFailure } from './retry-policy.util';

describe('classifyFailure', () => {
  it.each([
    [{ status: undefined, message: 'Connection error.' }, 'retryable'],
    [{ status: 429, message: 'rate limited' }, 'retryable'],
    [{ status: 500, message: 'boom' }, 'retryable'],
    [{ status: 503, message: 'overloaded' }, 'retryable'],
    [{ status: 408, message: 'timeout' }, 'retryable'],
    [
      {
        status: 400,
        message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens",
      },
      'context_length',
    ],
    [{ status: 400, message: 'too long', code: 'context_length_exceeded' }, 'context_length'],
    [{ status: 400, message: 'temperature must be <= 2' }, 'fatal'],
    [{ status: 401, message: 'bad key' }, 'fatal'],
    [{ status: 404, message: 'The model `x` does not exist.' }, 'fatal'],
  ])('%p is %s', (failure, kind) => {
    expect(classifyFailure(failure)).toBe(kind);
  });
});

describe('backoffDelayMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    [1, 10, undefined, 0, 250],
    [1, 10, undefined, 1, 500],
    [3, 10, undefined, 1, 2000],
    [10, 10, undefined, 1, 10000],
    [10, 10, undefined, 0, 5000],
    [1, 10, '3', 0.5, 3000],
    [1, 2, '30', 0.5, 2000],
    [1, 10, 'Thu, 01 Jan 2026 00:00:04 GMT', 0.5, 4000],
    [1, 10, 'garbage', 1, 500],
  ])(
    'attempt %i, cap %is, Retry-After %p, random %p -> %i ms',
    (attempt, cap, retryAfter, random, expected) => {
      expect(backoffDelayMs(attempt, cap, retryAfter, () => random, now)).toBe(expected);
    },
  );
});
