import { type DependencyStates, readinessOf } from './readiness.util';

describe('readinessOf', () => {
  it.each<[Parameters<typeof readinessOf>[0], DependencyStates, number, string | undefined]>([
    ['api', { redis: 'ok', llm: 'ok' }, 200, undefined],
    ['api', { redis: 'ok', llm: 'down' }, 200, undefined],
    ['api', { redis: 'down', llm: 'ok' }, 503, 'Redis is unreachable'],
    ['all', { redis: 'ok', llm: 'down' }, 200, undefined],
    ['all', { redis: 'down', llm: 'down' }, 503, 'Redis is unreachable'],
    ['worker', { redis: 'ok', llm: 'ok' }, 200, undefined],
    ['worker', { redis: 'ok', llm: 'down' }, 503, 'The LLM API is unreachable'],
    ['worker', { redis: 'down', llm: 'ok' }, 503, 'Redis is unreachable'],
    ['worker', { redis: 'down', llm: 'down' }, 503, 'Redis is unreachable'],
  ])('%s with %j answers %i (%s)', (role, states, httpStatus, detail) => {
    const readiness = readinessOf(role, states);
    expect(readiness.httpStatus).toBe(httpStatus);
    expect(readiness.body).toEqual(detail === undefined ? states : { detail, ...states });
  });
});
