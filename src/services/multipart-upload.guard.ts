import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import type { Request } from 'express';
import { EMPTY } from 'rxjs';

/**
 * Nest's `FileInterceptor('file')` (multer, the module's limits, its errors), run as the route's
 * guard and for multipart requests only. A guard rather than an interceptor: a route with any
 * interceptor pays Nest's Observable plumbing (a ReplaySubject, a disconnect watcher, an
 * AsyncResource per request), about a tenth of a JSON submission's CPU time; and guards
 * run where interceptors would, after the API-key guard and before the handler. multer leaves
 * any other body alone, and the test is the one multer makes (`type-is`, which `request.is` calls).
 */
@Injectable()
export class MultipartUploadGuard extends FileInterceptor('file') implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.switchToHttp().getRequest<Request>().is('multipart')) {
      // The upload is parsed (or refused) before `intercept` returns. The Observable it returns
      // only removes stored files when a pipe rejects the request: this route has no pipe, and
      // its files are kept in memory.
      await this.intercept(context, { handle: () => EMPTY });
    }
    return true;
  }
}
