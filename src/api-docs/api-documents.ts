import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { AppConfig } from '../config/app-config';
import { JOB_STATE_SCHEMAS } from '../jobs/job-state.dto';
import {
  MAX_JOBS_PER_SOCKET,
  MAX_PAYLOAD_BYTES,
  WEBSOCKET_API_DESCRIPTION,
} from '../realtime/realtime-paths';
import { MAX_FRAME_BYTES, MAX_IDS_PER_FRAME } from '../realtime/subscription-frame.util';
import { SERVICE_SCHEMAS } from '../services/service.dto';
import { buildAsyncApiDocument } from './asyncapi-document.util';
import { completeOpenApiDocument } from './openapi-document.util';

/** The path of the AsyncAPI document, linked from the OpenAPI description. */
export const ASYNCAPI_PATH = '/asyncapi.json';

/** Operations tagged so answer without a key (the `@Public()` health routes). */
const PUBLIC_TAGS = ['health'];

/**
 * The OpenAPI document of the routes Nest scanned, completed with the named schemas and the
 * API-key security (see `completeOpenApiDocument`); the per-service paths are merged per request.
 * Operation ids: those the controllers name, else the handler's name (`healthcheck`, `ready`).
 */
export function createOpenApiDocument(app: INestApplication, config: AppConfig): OpenAPIObject {
  const isKeyRequired = config.apiKeys.length > 0;
  const scanned = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(config.swagger.title)
      .setDescription(
        config.swagger.description + authenticationNote(isKeyRequired) + WEBSOCKET_API_DESCRIPTION,
      )
      .setVersion(config.version)
      .setExternalDoc('The WebSocket API as an AsyncAPI 3 document', ASYNCAPI_PATH)
      .addTag(
        'services',
        'The loaded services and one generate operation per service, reloaded when a manifest changes',
      )
      .addTag('results', "A job's state, and its cancellation")
      .addTag('health', 'Liveness and readiness, answered without a key')
      .build(),
    { operationIdFactory: (_controllerKey, methodKey) => methodKey },
  );
  return completeOpenApiDocument(scanned, {
    schemas: { ...JOB_STATE_SCHEMAS, ...SERVICE_SCHEMAS },
    isKeyRequired,
    publicTags: PUBLIC_TAGS,
  });
}

/** Answers `GET /asyncapi.json`: the document names the host the client reached. */
export function asyncApiHandler(config: AppConfig): (request: Request, response: Response) => void {
  return (request, response) => {
    const forwardedProtocol = request.get('x-forwarded-proto')?.split(',')[0]?.trim();
    response.json(
      buildAsyncApiDocument({
        title: config.swagger.title,
        version: config.version,
        host: request.get('host') ?? `localhost:${config.httpPort}`,
        isSecure: request.secure || forwardedProtocol === 'https',
        isKeyRequired: config.apiKeys.length > 0,
        heartbeatSeconds: config.wsPollingIntervalSeconds,
        jobStateSchemas: JOB_STATE_SCHEMAS,
        limits: {
          idsPerFrame: MAX_IDS_PER_FRAME,
          jobsPerSocket: MAX_JOBS_PER_SOCKET,
          frameBytes: MAX_FRAME_BYTES,
          closeFrameBytes: MAX_PAYLOAD_BYTES,
        },
      }),
    );
  };
}

function authenticationNote(isKeyRequired: boolean): string {
  return `

### API keys

${
  isKeyRequired
    ? 'This gateway has API_KEYS set: every operation except the health routes needs one of the keys,'
    : 'This gateway has no API_KEYS (as v1): no key is needed, which is why the security requirements list an empty alternative. When API_KEYS is set, every operation except the health routes needs one of the keys,'
} as \`Authorization: Bearer <key>\` or \`X-API-Key: <key>\`; without a valid one it answers \`401 {"detail":"Invalid or missing API key"}\`. This document (and \`/openapi.json\`, \`/asyncapi.json\`) needs the key too, as a header or as \`?api_key=<key>\`; the Swagger UI and ReDoc pages load without one and ask for it (or take \`?api_key=<key>\` in their URL).`;
}
