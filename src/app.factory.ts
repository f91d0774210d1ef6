import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CorsOptions } from '@nestjs/common/interfaces/external/cors-options.interface';
import type { Application, NextFunction, Request, Response } from 'express';
import type { AppConfig } from './config/app-config';
import { ApiModule, WorkerModule } from './app.module';
import { ASYNCAPI_PATH, asyncApiHandler, createOpenApiDocument } from './api-docs/api-documents';
import { ApiKeys, presentedKey } from './common/api-key.guard';
import { serveWebPage } from './common/web-page';
import { RealtimeWsAdapter } from './realtime/realtime-ws.adapter';
import { ServicesRegistry } from './services/services-registry.service';
import { withServicePaths } from './services/openapi-paths.util';

export interface Gateway {
  /** The HTTP application: the whole API (ROLE=api|all), or the health routes of a worker. */
  http: NestExpressApplication;
  context: INestApplicationContext;
}

/** Builds the gateway for `config.role`; the caller decides where it listens. */
export async function createGateway(config: AppConfig, logger: LoggerService): Promise<Gateway> {
  if (config.role === 'worker') {
    // A worker serves its health routes on HTTP_PORT, so one container probe fits every role.
    const worker = await NestFactory.create<NestExpressApplication>(WorkerModule.forRoot(config), {
      logger,
      bodyParser: false,
    });
    worker.disable('x-powered-by');
    return { http: worker, context: worker };
  }
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), {
    logger,
    bodyParser: false,
  });
  app.useBodyParser('json', { limit: config.maxUploadBytes });
  app.use(bodyParserErrorsAsDetail);
  app.enableCors(corsOptions(config.corsOrigins));
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
  serveWebPage(app);
  return { http: app, context: app };
}

/**
 * CORS as v1's Starlette middleware answered (`allow_origins=["*"]`, credentials allowed): the
 * request's Origin is echoed with `Access-Control-Allow-Credentials: true` (a literal `*` is not
 * valid with credentials), any method and requested header, preflights `200` cached 600 s. With
 * a list, only listed origins are echoed.
 */
export function corsOptions(origins: AppConfig['corsOrigins']): CorsOptions {
  return {
    origin: origins === '*' ? true : origins,
    credentials: true,
    methods: ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'],
    maxAge: 600,
    optionsSuccessStatus: 200,
  };
}

/**
 * The base document is scanned once; each request merges the services loaded right now. Served
 * as Swagger UI at SWAGGER_URL (its JSON at `<SWAGGER_URL>-json`), and where v1's FastAPI served
 * it: `/openapi.json` and ReDoc at `/redoc` (its script shipped in dist/, nothing fetched from a
 * CDN). An empty SWAGGER_URL turns the Swagger UI off, as in v1; `/openapi.json` and `/redoc`
 * stay, as FastAPI kept them. The WebSocket API is described by an AsyncAPI document at
 * `/asyncapi.json`. The documents are served without a key: they hold no secret, and the Swagger
 * UI and ReDoc pages load them with no way to add a header.
 */
function setUpOpenApi(app: NestExpressApplication, config: AppConfig): void {
  const base = createOpenApiDocument(app, config);
  const registry = app.get(ServicesRegistry);
  if (config.swagger.path !== '') {
    SwaggerModule.setup(config.swagger.path, app, base, {
      jsonDocumentUrl: `${config.swagger.path}-json`,
      yamlDocumentUrl: `${config.swagger.path}-yaml`,
      patchDocumentOnRequest: (_request, _response, document) => withServicePaths(document, registry.list()),
    });
  }
  const http = app.getHttpAdapter().getInstance() as Application;
  http.get('/openapi.json', (_request: Request, response: Response) => {
    response.json(withServicePaths(base, registry.list()));
  });
  http.get(ASYNCAPI_PATH, asyncApiHandler(config));
  http.get('/redoc', (_request: Request, response: Response) => {
    response.type('html').send(redocPage(config.swagger.title));
  });
  const scriptFile = redocScriptFile();
  http.get(REDOC_SCRIPT_PATH, (_request: Request, response: Response) => {
    response.sendFile(scriptFile, { maxAge: '1d' });
  });
}

const REDOC_SCRIPT_PATH = '/redoc/redoc.standalone.js';

/**
 * ReDoc's browser bundle: copied into dist/assets by `npm run build` (scripts/build-assets.js),
 * since the `redoc` package is only a build-time dependency; from the package itself when the
 * gateway runs from its TypeScript sources (tests).
 */
function redocScriptFile(): string {
  const built = join(__dirname, 'assets', 'redoc.standalone.js');
  if (existsSync(built)) return built;
  try {
    return require.resolve('redoc/bundles/redoc.standalone.js');
  } catch {
    return built; // answered 404 by sendFile; the page says ReDoc could not load
  }
}

function redocPage(title: string): string {
  const escapedTitle = title.replace(/[&<>"]/g, (character) => `&#${character.charCodeAt(0)};`);
  return [
    '<!DOCTYPE html>',
    '<html><head>',
    `<title>${escapedTitle} - ReDoc</title>`,
    '<meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1">',
    '<style>body { margin: 0; padding: 0; }</style>',
    '</head><body>',
    '<redoc spec-url="/openapi.json"></redoc>',
    `<script src="${REDOC_SCRIPT_PATH}"></script>`,
    '</body></html>',
  ].join('\n');
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
