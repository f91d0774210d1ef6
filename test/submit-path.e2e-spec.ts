import Redis from 'ioredis';
import { ServicesService } from '../src/services/services.service';
import { startTestGateway, type TestGateway } from './support/gateway';
import { type RedisServerHandle, startRedisServer } from './support/redis-server';

/** Calls of a Redis command since the server started, from `INFO commandstats`. */
async function commandCalls(redis: Redis, command: string): Promise<number> {
  const stats = await redis.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
}

/**
 * The write path's round trip (docs/architecture.md, "The write path"), against a Redis of its
 * own: the command counts are the server's, and no other test's commands reach it.
 */
describe('submissions handled in one turn of the event loop', () => {
  let server: RedisServerHandle;
  let redis: Redis;
  let gateway: TestGateway;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url);
    gateway = await startTestGateway({ redisUrl: server.url });
  });
  afterAll(async () => {
    await gateway.close();
    redis.disconnect();
    await server.stop();
  });

  it('store their texts and acceptances with one script, each job accepted with its own text', async () => {
    const services = gateway.get(ServicesService);
    const generate = (content: string) =>
      services.generate('summarize/en', {
        content,
        flavor: 'llama',
        temperature: undefined,
        top_p: undefined,
      });
    await generate('Alice : warm-up'); // the replica count read and cached, the scripts loaded
    const evalsBefore = await commandCalls(redis, 'eval');

    const texts = Array.from({ length: 10 }, (_, index) => `Alice : submission ${index}`);
    const queued = await Promise.all(texts.map(generate));

    expect(await commandCalls(redis, 'eval')).toBe(evalsBefore + 1);
    for (const [index, { jobId }] of queued.entries()) {
      expect(await redis.get(`llm-gateway:admission:${jobId}`)).toBe('accepted');
      expect(await redis.get(`llm-gateway:text:${jobId}`)).toBe(texts[index]);
    }
  });
});
