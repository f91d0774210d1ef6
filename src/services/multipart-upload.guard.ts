import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import type { Request } from 'express';
import { EMPTY } from 'rxjs';

/**
 * A multipart media type, read from the header as is: multer makes the exact test (`type-is`) on
 * what this lets through, and leaves alone what it would not parse; every JSON submission is
 * spared a full media-type parse.
 */
const MULTIPART = /^\s*multipart\//i;

/**
 * Nest's `FileInterceptor('file')` (multer, the module's limits, its errors), run as the route's
 * guard and for multipart requests only. A guard rather than an interceptor: a route with any
 * interceptor pays Nest's Observable plumbing (a ReplaySubject, a disconnect watcher, an
 * AsyncResource per request), about a tenth of a JSON submission's CPU time; and guards
 * run where interceptors would, after the API-key guard and before the handler. multer leaves
 * any other body alone.
 */
@Injectable()
export class MultipartUploadGuard extends FileInterceptor('file') implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (MULTIPART.test(context.switchToHttp().getRequest<Request>().headers['content-type'] ?? '')) {
      // The upload is parsed (or refused) before `intercept` returns. The Observable it returns
      // only removes stored files when a pipe rejects the request: this route has no pipe, and
      // its files are kept in memory.
      await this.intercept(context, { handle: () => EMPTY });
    }
    return true;
  }
}
