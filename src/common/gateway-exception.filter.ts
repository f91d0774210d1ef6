import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import type { Response } from 'express';
import { JobsError, type JobsErrorCode } from '../jobs/jobs.error';
import { ServicesError, type ServicesErrorCode } from '../services/services.error';
import { AuthError } from './api-key.guard';

/**
 * The one place errors become HTTP answers, in FastAPI's shape `{"detail": "..."}` (docs/api.md
 * section 4). Known error codes map exhaustively; anything unexpected is a 500 with a generic
 * message and is logged here, so no stack, secret or internal path reaches a client.
 */
@Catch()
export class GatewayExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const { status, detail } = this.toHttp(exception);
    if (response.headersSent) return;
    response.status(status).json({ detail });
  }

  private toHttp(exception: unknown): { status: number; detail: string } {
    if (exception instanceof ServicesError) {
      return { status: statusOfServicesError(exception.code), detail: exception.message };
    }
    if (exception instanceof JobsError) {
      return { status: statusOfJobsError(exception.code), detail: exception.message };
    }
    if (exception instanceof AuthError) {
      return { status: HttpStatus.UNAUTHORIZED, detail: exception.message };
    }
    if (exception instanceof HttpException) {
      return { status: exception.getStatus(), detail: detailOfHttpException(exception) };
    }
    this.logger.error(
      exception instanceof Error ? (exception.stack ?? exception.message) : String(exception),
    );
    return { status: HttpStatus.INTERNAL_SERVER_ERROR, detail: 'Internal server error' };
  }
}

export function statusOfServicesError(code: ServicesErrorCode): number {
  switch (code) {
    case 'NO_SERVICES':
    case 'SERVICE_NOT_FOUND':
    case 'FLAVOR_NOT_FOUND':
      return HttpStatus.NOT_FOUND;
    case 'MISSING_CONTENT':
    case 'MISSING_FLAVOR':
    case 'INVALID_PARAMETER':
    case 'INVALID_ENCODING':
      return HttpStatus.BAD_REQUEST;
    default: {
      const unhandled: never = code;
      throw new Error(`unmapped services error code ${String(unhandled)}`);
    }
  }
}

export function statusOfJobsError(code: JobsErrorCode): number {
  switch (code) {
    case 'QUEUE_UNAVAILABLE':
      return HttpStatus.SERVICE_UNAVAILABLE;
    case 'JOB_NOT_FOUND':
      return HttpStatus.NOT_FOUND;
    default: {
      const unhandled: never = code;
      throw new Error(`unmapped jobs error code ${String(unhandled)}`);
    }
  }
}

/** Nest's own exceptions (unknown route, multer limits): keep their message, FastAPI-style. */
function detailOfHttpException(exception: HttpException): string {
  if (exception instanceof NotFoundException) return 'Not Found';
  const body = exception.getResponse();
  if (typeof body === 'string') return body;
  const message = (body as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : exception.message;
}
