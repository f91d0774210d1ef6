import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { ApiKeyGuard, ApiKeys, presentedKey } from './common/api-key.guard';
import { GatewayExceptionFilter } from './common/gateway-exception.filter';
import { RoutesAfterApi } from './common/routes-after-api';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { HealthModule } from './health/health.module';
import { type DashboardAccess, JobsDashboardModule } from './jobs/jobs-dashboard.module';
import { JobsModule } from './jobs/jobs.module';
import { MetricsModule } from './metrics/metrics.module';
import { PipelineModule } from './pipeline/pipeline.module';
import { RealtimeModule } from './realtime/realtime.module';
import { RedisModule } from './redis/redis.module';
import { ServicesModule } from './services/services.module';

/** The HTTP side (ROLE=api, and ROLE=all): manifests, routes, results, WebSockets, health. */
@Module({})
export class ApiModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        RedisModule,
        // First: its generate route is the API's busiest, and Express tries routes in the order
        // they were registered, which is this order.
        ServicesModule,
        HealthModule,
        MetricsModule,
        // The queue and /results; ServicesModule and RealtimeModule use its JobsService too.
        JobsModule,
        // The queue dashboard at /admin/queues, for operators (behind API_KEYS when set).
        JobsDashboardModule.forRoot(dashboardAccess(config)),
        RealtimeModule,
        // ROLE=all runs the worker in the same process.
        ...(config.role === 'all' ? [PipelineModule.forRoot(config)] : []),
      ],
      providers: [
        { provide: APP_FILTER, useClass: GatewayExceptionFilter },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        // The documents and the page, registered after the API's routes (app.factory.ts).
        RoutesAfterApi,
      ],
    };
  }
}

/** The worker side (ROLE=worker): the BullMQ worker running the pipeline, and its health routes. */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      // Health and metrics on HTTP_PORT too (nothing else is routed): container and pod probes fit every role.
      imports: [
        ConfigModule.forRoot(config),
        RedisModule,
        HealthModule,
        MetricsModule,
        PipelineModule.forRoot(config),
      ],
      providers: [{ provide: APP_FILTER, useClass: GatewayExceptionFilter }],
    };
  }
}

/** API_KEYS for the queue dashboard, which Express serves outside Nest's guard. */
function dashboardAccess(config: AppConfig): DashboardAccess {
  const keys = new ApiKeys(config.apiKeys);
  return { isKeyRequired: keys.isRequired, accepts: (key) => keys.accepts(key), presentedKey };
}
