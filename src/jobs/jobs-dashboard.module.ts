import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { getQueueToken } from '@nestjs/bullmq';
import { type DynamicModule, Inject, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import type { Queue } from 'bullmq';
import type { Application, NextFunction, Request, Response } from 'express';
import type { IncomingHttpHeaders } from 'node:http';
import { SUMMARIZATION_QUEUE } from './job-payload';

/** Where the queue dashboard is served (API role only). */
export const DASHBOARD_PATH = '/admin/queues';
/** The cookie that carries the key for the dashboard's own requests (its page, scripts and API). */
const KEY_COOKIE = 'llm_gateway_dashboard_key';
const DASHBOARD_ACCESS = Symbol('DASHBOARD_ACCESS');

/** API_KEYS as the gateway checks them (common/ owns them; given here, so jobs/ needs no common/). */
export interface DashboardAccess {
  isKeyRequired: boolean;
  accepts(key: string | undefined): boolean;
  /** The key a request presents in its headers. */
  presentedKey(headers: IncomingHttpHeaders): string | undefined;
}

/**
 * The BullMQ queue dashboard (`@bull-board`) at `/admin/queues`, for operators: jobs by state,
 * their data and errors, retry and clean. It is mounted on Express directly, where Nest's guard
 * does not run, so it checks API_KEYS itself: a key in a header as on every route, or, since a
 * browser cannot set a header on a page load, once as `?api_key=`, which sets an HttpOnly,
 * SameSite=Strict cookie scoped to the dashboard's path for the requests the page makes next.
 */
@Module({})
export class JobsDashboardModule implements OnModuleInit {
  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly httpAdapterHost: HttpAdapterHost,
    @Inject(DASHBOARD_ACCESS) private readonly access: DashboardAccess,
  ) {}

  static forRoot(access: DashboardAccess): DynamicModule {
    return { module: JobsDashboardModule, providers: [{ provide: DASHBOARD_ACCESS, useValue: access }] };
  }

  onModuleInit(): void {
    // The API's queue (JobsModule registers it on the fail-fast connection).
    const queue = this.moduleRef.get<Queue>(getQueueToken(SUMMARIZATION_QUEUE), { strict: false });
    const serverAdapter = new ExpressAdapter().setBasePath(DASHBOARD_PATH);
    createBullBoard({ queues: [new BullMQAdapter(queue)], serverAdapter });
    const http = this.httpAdapterHost.httpAdapter.getInstance<Application>();
    http.use(DASHBOARD_PATH, requireKey(this.access), serverAdapter.getRouter() as Application);
  }
}

function requireKey(
  keys: DashboardAccess,
): (request: Request, response: Response, next: NextFunction) => void {
  return (request, response, next) => {
    if (!keys.isKeyRequired) {
      next();
      return;
    }
    const fromQuery = request.query.api_key;
    const queryKey = typeof fromQuery === 'string' ? fromQuery : undefined;
    if (queryKey !== undefined && keys.accepts(queryKey)) {
      response.cookie(KEY_COOKIE, queryKey, {
        httpOnly: true,
        sameSite: 'strict',
        path: DASHBOARD_PATH,
        secure: request.secure,
      });
      next();
      return;
    }
    if (keys.accepts(keys.presentedKey(request.headers) ?? cookieValue(request.headers.cookie, KEY_COOKIE))) {
      next();
      return;
    }
    response.status(401).json({ detail: 'Invalid or missing API key' });
  };
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const separator = pair.indexOf('=');
    if (separator > 0 && pair.slice(0, separator).trim() === name) {
      try {
        return decodeURIComponent(pair.slice(separator + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
