import type { Role } from '../config/app-config';

export type DependencyState = 'ok' | 'down';

export interface DependencyStates {
  redis: DependencyState;
  llm: DependencyState;
}

export interface Readiness {
  httpStatus: 200 | 503;
  body: DependencyStates & { detail?: string };
}

/**
 * What each role needs to do its work: the API (and ROLE=all, which accepts jobs too) needs Redis
 * only, since a job accepted while the LLM is away waits in the queue; a worker needs Redis and
 * the LLM.
 */
const NEEDS: Record<Role, readonly (keyof DependencyStates)[]> = {
  api: ['redis'],
  all: ['redis'],
  worker: ['redis', 'llm'],
};

const DETAIL: Record<keyof DependencyStates, string> = {
  redis: 'Redis is unreachable',
  llm: 'The LLM API is unreachable',
};

/**
 * The answer of `GET /health/ready`: every dependency named, 503 only when one the role needs is
 * down (`detail` names the first of them). Never throws.
 */
export function readinessOf(role: Role, states: DependencyStates): Readiness {
  const missing = NEEDS[role].find((dependency) => states[dependency] === 'down');
  return missing === undefined
    ? { httpStatus: 200, body: states }
    : { httpStatus: 503, body: { detail: DETAIL[missing], ...states } };
}
