import type { IncomingHttpHeaders } from 'node:http';
import { Controller, Get, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import {
  ApiExcludeEndpoint,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Request } from 'express';
import { errorContent, schemaRef, UNAUTHORIZED_RESPONSE } from '../api-schemas/error-detail.dto';
import { MultipartUploadGuard } from './multipart-upload.guard';
import { type QueuedJob, ServicesService } from './services.service';

interface GenerateBody {
  file?: unknown;
  content?: unknown;
  flavor?: unknown;
  temperature?: unknown;
  top_p?: unknown;
}

@ApiTags('services')
@Controller('services')
export class ServicesController {
  constructor(private readonly services: ServicesService) {}

  @Get()
  @ApiOperation({
    operationId: 'listServices',
    summary: 'The loaded services, each manifest as loaded (defaults filled, route always present)',
    description:
      'Each service runs at `POST /services/{route}/generate` with one of its `flavor` names. The list changes when a manifest is added, changed or deleted, without a restart.',
  })
  @ApiOkResponse({ description: 'The loaded services.', schema: schemaRef('ServiceList') })
  @ApiUnauthorizedResponse(UNAUTHORIZED_RESPONSE)
  @ApiNotFoundResponse({
    description: 'No service is loaded.',
    content: errorContent('No services available'),
  })
  list(): Record<string, unknown>[] {
    return this.services.listPublished();
  }

  /**
   * One generic route for every service (routes may contain slashes); documented by
   * `withServicePaths`: a generic operation and one per service.
   */
  @Post('*route/generate')
  @HttpCode(200)
  @ApiExcludeEndpoint()
  @UseGuards(MultipartUploadGuard)
  generate(@Req() request: Request): Promise<QueuedJob> {
    // The request itself rather than four parameter decorators: Nest resolves each one (and its
    // pipes) on every submission. multer (MultipartUploadGuard) left the upload in `file`.
    const routeSegments: unknown = request.params.route;
    const body = request.body as GenerateBody | undefined;
    const headers = request.headers;
    return this.services.generate(
      Array.isArray(routeSegments) ? routeSegments.join('/') : String(routeSegments),
      {
        content: request.file?.buffer ?? body?.content ?? body?.file,
        flavor: body?.flavor,
        temperature: body?.temperature,
        top_p: body?.top_p,
      },
      { idempotencyKey: singleHeader(headers['idempotency-key']), apiKey: presentedApiKey(headers) },
    );
  }
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/** The API key a request presents (as the API-key guard reads it), to scope its Idempotency-Key. */
function presentedApiKey(headers: IncomingHttpHeaders): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1] ?? singleHeader(headers['x-api-key']);
}
