import { join } from 'node:path';
import { REPOSITORY_ROOT } from './support/gateway';

interface Decision {
  action: 'use' | 'start' | 'fail';
  host: string;
  port: number;
  url: string;
  message: string;
}
// scripts/ is plain CommonJS with no types: the decision of `npm run local` (issue 13).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { decideRedis } = require(join(REPOSITORY_ROOT, 'scripts/local-redis.js')) as {
  decideRedis: (input: {
    explicitBroker: string | undefined;
    isDefaultPortAnswering: boolean;
    isExplicitAnswering: boolean;
    freePort: number;
  }) => Decision;
};

describe("npm run local never joins another run's queue by accident (decideRedis)", () => {
  it.each([
    [
      'first run, 6379 free',
      undefined,
      false,
      false,
      { action: 'start', port: 6379, url: 'redis://127.0.0.1:6379/0' },
      /own/,
    ],
    [
      'second run, 6379 taken',
      undefined,
      true,
      false,
      { action: 'start', port: 41234, url: 'redis://127.0.0.1:41234/0' },
      /already answers on 127\.0\.0\.1:6379.*own redis-server on port 41234.*set SERVICES_BROKER/,
    ],
    [
      'shared on purpose',
      'redis://localhost:6379/0',
      true,
      true,
      { action: 'use', port: 6379, url: 'redis://localhost:6379/0' },
      /on purpose/,
    ],
    [
      'explicit, local, down',
      'redis://localhost:6380/0',
      false,
      false,
      { action: 'start', port: 6380 },
      /starting/,
    ],
    [
      'explicit, remote, down',
      'redis://redis.example:6379/0',
      false,
      false,
      { action: 'fail' },
      /does not answer/,
    ],
  ])('%s', (_what, explicitBroker, isDefaultPortAnswering, isExplicitAnswering, expected, message) => {
    const decision = decideRedis({
      explicitBroker,
      isDefaultPortAnswering,
      isExplicitAnswering,
      freePort: 41234,
    });
    expect(decision).toMatchObject(expected);
    expect(decision.message).toMatch(message);
  });
});
