// Which Redis `npm run local` uses: pure decision, tested in test/local-redis.e2e-spec.ts.
'use strict';

const DEFAULT_BROKER = 'redis://localhost:6379/0';
const LOCAL_HOSTS = ['localhost', '127.0.0.1', '::1', '[::1]'];

/**
 * Decides which Redis this local run uses, so that two runs on one machine never share a queue by
 * accident. `explicitBroker`: SERVICES_BROKER as set in the environment or .env (undefined when
 * unset): an explicit URL means "share on purpose" and is used as is (started here when it points
 * at this machine and nothing answers). Unset: this run gets its own redis-server, on 6379 when
 * free, else on `freePort` (a Redis already on 6379 belongs to another run or program).
 * Returns { action: 'use' | 'start' | 'fail', host, port, url, message }; never touches the network.
 */
function decideRedis({ explicitBroker, isDefaultPortAnswering, isExplicitAnswering, freePort }) {
  if (explicitBroker) {
    const url = new URL(explicitBroker);
    const host = url.hostname;
    const port = Number(url.port || 6379);
    if (isExplicitAnswering) {
      return {
        action: 'use',
        host,
        port,
        url: explicitBroker,
        message: `SERVICES_BROKER is set: sharing the Redis at ${host}:${port} on purpose`,
      };
    }
    if (!LOCAL_HOSTS.includes(host)) {
      return {
        action: 'fail',
        host,
        port,
        url: explicitBroker,
        message: `SERVICES_BROKER points at ${host}:${port}, which does not answer; start that Redis or point SERVICES_BROKER at this machine`,
      };
    }
    return {
      action: 'start',
      host: '127.0.0.1',
      port,
      url: explicitBroker,
      message: `starting redis-server on 127.0.0.1:${port} (SERVICES_BROKER)`,
    };
  }
  const port = isDefaultPortAnswering ? freePort : 6379;
  return {
    action: 'start',
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}/0`,
    message: isDefaultPortAnswering
      ? `a Redis already answers on 127.0.0.1:6379 (another local run, see its .local/redis/6379/redis.pid, or another program): starting this run's own redis-server on port ${port} so that the two never share a queue. To share one Redis on purpose, set SERVICES_BROKER=${DEFAULT_BROKER}`
      : "starting redis-server on 127.0.0.1:6379 (this run's own; set SERVICES_BROKER to use another Redis)",
  };
}

module.exports = { decideRedis, DEFAULT_BROKER };
