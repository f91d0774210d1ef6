import { Controller, Get, Header, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { Public } from '../common/api-key.guard';
import { RedisClient } from '../redis/redis.client';

@ApiTags('health')
@Public()
@Controller()
export class HealthController {
  constructor(private readonly redis: RedisClient) {}

  @Get('healthcheck')
  @Header('Content-Type', 'application/json')
  @ApiOperation({ summary: 'Liveness, as v1: always the JSON string "1"' })
  @ApiOkResponse({ schema: { type: 'string', example: '1' } })
  healthcheck(): string {
    return JSON.stringify('1');
  }

  @Get('health/live')
  @ApiOperation({
    summary: 'Liveness: 200 while the process runs; never touches a dependency',
    description: 'For container and pod liveness probes: a Redis or LLM outage never restarts the process.',
  })
  @ApiOkResponse({ schema: { type: 'object', properties: { status: { type: 'string', example: 'ok' } } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @ApiOperation({ summary: 'Readiness: answers 200 when Redis is reachable' })
  @ApiOkResponse({ schema: { type: 'object', properties: { redis: { type: 'string', example: 'ok' } } } })
  @ApiServiceUnavailableResponse({ description: 'Redis is unreachable' })
  async ready(): Promise<{ redis: string }> {
    const isUp =
      this.redis.isReady &&
      (await this.redis.connection.ping().then(
        () => true,
        () => false,
      ));
    if (!isUp) throw new ServiceUnavailableException('Redis is unreachable');
    return { redis: 'ok' };
  }
}
