import { Global, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { HttpRequestsMiddleware } from './http-requests.middleware';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/** `/metrics` and the instruments every module reports to, in every role. */
@Global()
@Module({ controllers: [MetricsController], providers: [MetricsService], exports: [MetricsService] })
export class MetricsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpRequestsMiddleware).forRoutes('{*path}');
  }
}
