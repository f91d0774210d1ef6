import { type CallHandler, type ExecutionContext, Injectable } from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import type { Request } from 'express';
import type { Observable } from 'rxjs';

/**
 * Nest's `FileInterceptor('file')`, run for multipart requests only. multer leaves any other body
 * alone, but running it still costs each JSON submission a promise, a response watcher and an
 * operator on the answer; the test is the one multer makes (`type-is`, which `request.is` calls).
 */
@Injectable()
export class MultipartFileInterceptor extends FileInterceptor('file') {
  override intercept(
    context: ExecutionContext,
    next: CallHandler,
  ): Observable<unknown> | Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<Request>();
    return request.is('multipart') ? super.intercept(context, next) : next.handle();
  }
}
