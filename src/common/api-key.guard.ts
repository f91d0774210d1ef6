import { timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingHttpHeaders } from 'node:http';
import { APP_CONFIG, type AppConfig } from '../config/app-config';

export class AuthError extends Error {
  readonly code = 'UNAUTHORIZED';
}

const IS_PUBLIC = 'isPublicRoute';
/** Marks a route reachable without an API key (health checks). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/**
 * When API_KEYS is set, every route but the public ones needs one of the keys, as
 * `Authorization: Bearer <key>` or `X-API-Key: <key>`. Empty API_KEYS: no authentication (v1).
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: ApiKeys;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly reflector: Reflector,
  ) {
    this.keys = new ApiKeys(config.apiKeys);
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.keys.isRequired) return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) {
      return true;
    }
    const request = context.switchToHttp().getRequest<{ headers: IncomingHttpHeaders }>();
    if (this.keys.accepts(presentedKey(request.headers))) return true;
    throw new AuthError('Invalid or missing API key');
  }
}

/** The configured API_KEYS, compared in constant time. */
export class ApiKeys {
  private readonly keys: Buffer[];

  constructor(keys: readonly string[]) {
    this.keys = keys.map((key) => Buffer.from(key));
  }

  get isRequired(): boolean {
    return this.keys.length > 0;
  }

  accepts(presented: string | undefined): boolean {
    if (!this.isRequired) return true;
    return (
      presented !== undefined && this.keys.some((key) => constantTimeEquals(key, Buffer.from(presented)))
    );
  }
}

/** The key a request presents as `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
  if (bearer?.[1]) return bearer[1].trim();
  const header = headers['x-api-key'];
  return typeof header === 'string' ? header.trim() : undefined;
}

function constantTimeEquals(expected: Buffer, presented: Buffer): boolean {
  return expected.length === presented.length && timingSafeEqual(expected, presented);
}
