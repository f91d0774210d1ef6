import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import type { AppConfig } from './config/app-config';
import { ApiModule, WorkerModule } from './app.module';
import { ApiKeys, presentedKey } from './common/api-key.guard';
import { WEBSOCKET_API_DESCRIPTION } from './realtime/realtime-paths';
import { RealtimeWsAdapter } from './realtime/realtime-ws.adapter';
import { ServicesRegistry } from './services/services-registry.service';
import { withServicePaths } from './services/openapi-paths.util';

export interface Gateway {
  /** The HTTP application (ROLE=api|all), or undefined for a worker. */
  http: NestExpressApplication | undefined;
  context: INestApplicationContext;
}

/** Builds the gateway for `config.role`; the caller decides where it listens. */
export async function createGateway(config: AppConfig, logger: LoggerService): Promise<Gateway> {
  if (config.role === 'worker') {
    const context = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger });
    return { http: undefined, context };
  }
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), {
    logger,
    bodyParser: false,
  });
  app.useBodyParser('json', { limit: config.maxUploadBytes });
  app.use(bodyParserErrorsAsDetail);
  app.enableCors({ origin: config.corsOrigins === '*' ? '*' : config.corsOrigins });
  app.disable('x-powered-by');
  const apiKeys = new ApiKeys(config.apiKeys);
  // Browsers cannot set headers on a WebSocket: the key may also come as `?api_key=`.
  app.useWebSocketAdapter(
    new RealtimeWsAdapter(app, (request) =>
      apiKeys.accepts(
        presentedKey(request.headers) ??
          new URL(request.url ?? '/', 'http://localhost').searchParams.get('api_key') ??
          undefined,
      ),
    ),
  );
  setUpOpenApi(app, config);
  return { http: app, context: app };
}

/** The base document is scanned once; each request merges the services loaded right now. */
function setUpOpenApi(app: NestExpressApplication, config: AppConfig): void {
  const base = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(config.swagger.title)
      .setDescription(config.swagger.description + WEBSOCKET_API_DESCRIPTION)
      .setVersion(config.version)
      .addTag('services', 'One route per configured service, reloaded when a manifest changes')
      .addTag('health')
      .build(),
  );
  const registry = app.get(ServicesRegistry);
  SwaggerModule.setup(config.swagger.path, app, base, {
    jsonDocumentUrl: `${config.swagger.path}-json`,
    yamlDocumentUrl: `${config.swagger.path}-yaml`,
    patchDocumentOnRequest: (_request, _response, document) => withServicePaths(document, registry.list()),
  });
}

/** body-parser errors happen before Nest's filters: answer them in the same `{detail}` shape. */
function bodyParserErrorsAsDetail(
  error: unknown,
  _request: Request,
  response: Response,
  next: NextFunction,
): void {
  const status = typeof error === 'object' && error !== null && 'status' in error ? error.status : undefined;
  if (typeof status !== 'number') {
    next(error);
    return;
  }
  const detail =
    status === 413
      ? 'Request body larger than MAX_UPLOAD_SIZE'
      : status === 400
        ? 'Malformed JSON body'
        : 'Request body could not be read';
  response.status(status).json({ detail });
}
