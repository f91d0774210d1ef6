import { randomUUID } from 'node:crypto';
import { Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { MetricsService } from './metrics.service';

/** A request id a client may send (and that we echo): short, printable, no spaces. */
const ACCEPTED_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
/** Probes and scrapes arrive every few seconds: their lines are debug, everything else info. */
const QUIET_ROUTES = new Set(['/healthcheck', '/health/live', '/health/ready', '/metrics']);

/**
 * Every HTTP request: an `X-Request-Id` (the client's when it sends a sane one, else a new
 * UUID) answered back, one log line when the answer is sent (method, route template, status,
 * duration, request id), and the request counted by route template, never by raw path.
 */
@Injectable()
export class HttpRequestsMiddleware implements NestMiddleware {
  private readonly logger = new Logger('HTTP');

  constructor(private readonly metrics: MetricsService) {}

  use(request: Request, response: Response, next: NextFunction): void {
    const startedAt = performance.now();
    const presented = request.headers['x-request-id'];
    const requestId =
      typeof presented === 'string' && ACCEPTED_REQUEST_ID.test(presented) ? presented : randomUUID();
    response.setHeader('X-Request-Id', requestId);
    // `on`, not `once`: 'finish' fires once, and `once` wraps the listener on every request.
    response.on('finish', () => {
      const durationSeconds = (performance.now() - startedAt) / 1000;
      const route = routeTemplate(request, response.statusCode);
      this.metrics.httpRequest(request.method, route, response.statusCode, durationSeconds);
      const line = {
        message: `${request.method} ${route} ${response.statusCode} ${Math.round(durationSeconds * 1000)} ms`,
        requestId,
        method: request.method,
        route,
        status: response.statusCode,
        durationMs: Math.round(durationSeconds * 1000),
      };
      if (QUIET_ROUTES.has(route)) this.logger.debug(line);
      else this.logger.log(line);
    });
    next();
  }
}

/**
 * The matched route's template (`/results/:id`), the mount path of what served it (`/docs` for
 * the Swagger UI's files), `static` for the page's files, or `unmatched`: never the raw path.
 */
function routeTemplate(request: Request, status: number): string {
  const route: unknown = (request as { route?: { path?: unknown } }).route?.path;
  if (typeof route === 'string') return `${request.baseUrl}${route}`;
  if (request.baseUrl !== '') return request.baseUrl;
  return status < 400 ? 'static' : 'unmatched';
}
