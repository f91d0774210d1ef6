import { Global, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Application, Request, Response } from 'express';
import { HttpRequestsMiddleware } from './http-requests.middleware';
import { MetricsService } from './metrics.service';

/** Where Prometheus scrapes, in every role. */
export const METRICS_PATH = '/metrics';

/**
 * `GET /metrics` (Prometheus text) and the instruments every module reports to, in every role.
 * Served by Express directly, outside Nest's guard: Prometheus scrapes without a key, and the text
 * holds no secret, no job id and no input (README, "Observability"); keep the port off the public
 * internet, or filter `/metrics` at the ingress.
 */
@Global()
@Module({
  providers: [MetricsService, HttpRequestsMiddleware],
  exports: [MetricsService, HttpRequestsMiddleware],
})
export class MetricsModule implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly httpAdapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const http = this.httpAdapterHost.httpAdapter.getInstance<Application>();
    http.get(METRICS_PATH, (_request: Request, response: Response) => {
      this.metrics.scrape().then(
        (text) => {
          // Set as is: Express's type() would add a charset some scrapers do not expect.
          response.setHeader('Content-Type', this.metrics.contentType);
          response.end(text);
        },
        (error: unknown) => {
          response.status(500).json({ detail: `Metrics could not be collected: ${String(error)}` });
        },
      );
    });
  }
}
