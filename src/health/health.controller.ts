import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { Public } from '../common/api-key.guard';
import type { Response } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { DependencyProbesClient } from './dependency-probes.client';
import { type Readiness, readinessOf } from './readiness.util';

@ApiTags('health')
@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly probes: DependencyProbesClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

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
  @ApiOperation({
    summary: 'Readiness: each dependency named; 503 only when one this role needs is down',
    description:
      'Redis (a bounded PING) and the LLM API (`GET <OPENAI_API_BASE>/models`, cached 5 s), each `ok` or `down`. ' +
      'ROLE=api and ROLE=all need Redis (a job accepted while the LLM is away waits in the queue); ' +
      'ROLE=worker needs Redis and the LLM. Answers within 2 s whatever the dependencies do.',
  })
  @ApiOkResponse({
    schema: {
      type: 'object',
      properties: {
        redis: { type: 'string', enum: ['ok', 'down'] },
        llm: { type: 'string', enum: ['ok', 'down'] },
      },
      example: { redis: 'ok', llm: 'down' },
    },
  })
  @ApiServiceUnavailableResponse({
    description: 'A dependency this role needs is down',
    schema: {
      type: 'object',
      properties: {
        detail: { type: 'string' },
        redis: { type: 'string', enum: ['ok', 'down'] },
        llm: { type: 'string', enum: ['ok', 'down'] },
      },
      example: { detail: 'Redis is unreachable', redis: 'down', llm: 'ok' },
    },
  })
  async ready(@Res({ passthrough: true }) response: Response): Promise<Readiness['body']> {
    const [redis, llm] = await Promise.all([this.probes.redisState(), this.probes.llmState()]);
    const readiness = readinessOf(this.config.role, { redis, llm });
    response.status(readiness.httpStatus);
    return readiness.body;
  }
}
