import { startRedisServer, type RedisServerHandle } from './redis-server';

declare global {
  var testRedisServer: RedisServerHandle | undefined;
}

/** One real redis-server for the whole run; tests read its URL from TEST_REDIS_URL. */
export default async function globalSetup(): Promise<void> {
  const server = await startRedisServer();
  globalThis.testRedisServer = server;
  process.env.TEST_REDIS_URL = server.url;
}
