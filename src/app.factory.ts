import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CorsOptions } from '@nestjs/common/interfaces/external/cors-options.interface';
import cors from 'cors';
import type { Application, NextFunction, Request, RequestHandler, Response } from 'express';
import type { AppConfig } from './config/app-config';
import { ApiModule, WorkerModule } from './app.module';
import { ASYNCAPI_PATH, asyncApiHandler, createOpenApiDocument } from './api-docs/api-documents';
import { ApiKeys, presentedKey } from './common/api-key.guard';
import { jsonBodyErrorsAsDetail, readJsonBodies } from './common/json-bodies';
import { HttpRequestsMiddleware } from './metrics/http-requests.middleware';
import { RoutesAfterApi } from './common/routes-after-api';
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
    recordHttpRequests(worker);
    worker.disable('x-powered-by');
    return { http: worker, context: worker };
  }
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), {
    logger,
    bodyParser: false,
  });
  recordHttpRequests(app);
  app.use(readJsonBodies(config.maxUploadBytes));
  app.use(jsonBodyErrorsAsDetail);
  app.use(corsForCrossOriginRequests(corsOptions(config.corsOrigins)));
  app.disable('x-powered-by');
  // No ETag on the API's JSON answers (v1 sent none): Express hashes every body it sends, the
  // answer to each submission included, for a header no client of the API uses. The page and its
  // assets keep their validators (`send` sets its own).
  app.disable('etag');
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
  app.get(RoutesAfterApi).add(() => {
    setUpOpenApi(app, config);
    serveWebPage(app);
  });
  return { http: app, context: app };
}

/**
 * First in the chain, before the documents, the page and Nest's routes are registered: every
 * request gets its request id, its log line and its count, whoever answers it.
 */
function recordHttpRequests(app: NestExpressApplication): void {
  const requests = app.get(HttpRequestsMiddleware);
  app.use(requests.use.bind(requests));
}

/**
 * The cors package for requests that carry an `Origin` (a browser's cross-origin request, or any
 * preflight): a request without one (a server, a CLI, an SDK) gets no CORS header, as v1's
 * Starlette middleware answered it, only `Vary: Origin` for caches, and skips the package's work
 * (several closures and header writes on every submission). Preflights always go to the package.
 */
function corsForCrossOriginRequests(options: CorsOptions): RequestHandler {
  const answerCors = cors(options);
  return (request, response, next) => {
    if (request.headers.origin === undefined && request.method !== 'OPTIONS') {
      // Nothing earlier in the chain sets Vary: set at once, without `vary`'s parse and merge.
      if (response.hasHeader('Vary')) response.vary('Origin');
      else response.setHeader('Vary', 'Origin');
      next();
      return;
    }
    answerCors(request, response, next);
  };
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
 * `/asyncapi.json`. With API_KEYS set the documents need a key like every route but the health
 * checks (they list every route, flavor and description `/services` guards), as a header or as
 * `?api_key=` (ReDoc loads its document with no way to add a header); the Swagger UI and ReDoc
 * pages and their scripts hold no data and stay public, and ask for the key.
 */
function setUpOpenApi(app: NestExpressApplication, config: AppConfig): void {
  const base = createOpenApiDocument(app, config);
  const registry = app.get(ServicesRegistry);
  const http = app.getHttpAdapter().getInstance() as Application;
  const apiKeys = new ApiKeys(config.apiKeys);
  const swaggerPath = config.swagger.path;
  if (apiKeys.isRequired) {
    // Express matches routes ignoring case and a trailing slash: so does this check.
    const normalized = (path: string) => path.toLowerCase().replace(/\/+$/, '');
    const guardedPaths = new Set(['/openapi.json', ASYNCAPI_PATH].map(normalized));
    if (swaggerPath !== '') {
      guardedPaths.add(normalized(`${swaggerPath}-json`)).add(normalized(`${swaggerPath}-yaml`));
      // Registered before SwaggerModule's own: this init script loads the document by URL with the
      // key, where Nest's embeds the whole document in a public script.
      http.get(
        [`${swaggerPath}/swagger-ui-init.js`, `${swaggerPath}/*rest/swagger-ui-init.js`],
        (_request: Request, response: Response) => {
          response.type('application/javascript').send(swaggerUiInitScript(`${swaggerPath}-json`));
        },
      );
    }
    http.use((request: Request, response: Response, next: NextFunction) => {
      if (!guardedPaths.has(normalized(request.path)) || apiKeys.accepts(documentKey(request))) {
        next();
        return;
      }
      response.status(401).json({ detail: 'Invalid or missing API key' });
    });
  }
  if (swaggerPath !== '') {
    SwaggerModule.setup(swaggerPath, app, base, {
      jsonDocumentUrl: `${swaggerPath}-json`,
      yamlDocumentUrl: `${swaggerPath}-yaml`,
      swaggerOptions: { persistAuthorization: true },
      patchDocumentOnRequest: (_request, _response, document) => withServicePaths(document, registry.list()),
    });
  }
  http.get('/openapi.json', (_request: Request, response: Response) => {
    response.json(withServicePaths(base, registry.list()));
  });
  http.get(ASYNCAPI_PATH, asyncApiHandler(config));
  http.get('/redoc', (request: Request, response: Response) => {
    response
      .type('html')
      .send(redocPage(config.swagger.title, apiKeys.isRequired ? (keyFromQuery(request) ?? '') : undefined));
  });
  const scriptFile = redocScriptFile();
  http.get(REDOC_SCRIPT_PATH, (_request: Request, response: Response) => {
    response.sendFile(scriptFile, { maxAge: '1d' });
  });
}

/** The key a documents request presents: a header, or `?api_key=` (what ReDoc's URL can carry). */
function documentKey(request: Request): string | undefined {
  return presentedKey(request.headers) ?? keyFromQuery(request);
}

function keyFromQuery(request: Request): string | undefined {
  const key = new URL(request.originalUrl, 'http://localhost').searchParams.get('api_key');
  return key === null || key === '' ? undefined : key;
}

/**
 * Swagger UI's start-up script when API_KEYS is set: the key comes from `?api_key=` in the page's
 * URL, else from the browser's storage, else the page asks for it; it is sent as `X-API-Key` on
 * the document fetch and on every "Try it out" request, and filled into the "Authorize" dialog.
 */
function swaggerUiInitScript(documentUrl: string): string {
  return `window.onload = function () {
  var storageKey = 'llm-gateway-api-key';
  var key = new URLSearchParams(window.location.search).get('api_key') || window.localStorage.getItem(storageKey) || '';
  function askForKey() {
    var entered = window.prompt('This gateway needs an API key to show its documentation. API key:');
    if (entered) { window.localStorage.setItem(storageKey, entered.trim()); window.location.reload(); }
  }
  if (!key) { askForKey(); }
  window.ui = SwaggerUIBundle({
    url: ${JSON.stringify(documentUrl)},
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
    requestInterceptor: function (request) {
      if (key && !request.headers['Authorization'] && !request.headers['X-API-Key']) request.headers['X-API-Key'] = key;
      return request;
    },
    responseInterceptor: function (response) {
      if (response.status === 401 && response.url.indexOf(${JSON.stringify(documentUrl)}) !== -1) {
        window.localStorage.removeItem(storageKey);
        askForKey();
      }
      return response;
    },
    onComplete: function () {
      if (key) { window.localStorage.setItem(storageKey, key); window.ui.preauthorizeApiKey('apiKeyHeader', key); }
    }
  });
};
`;
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

/**
 * ReDoc's page. `apiKey` undefined: no key needed. With API_KEYS set, the page's `?api_key=` is
 * passed on to the document URL; without one the page asks for it (a form that reloads the page).
 */
function redocPage(title: string, apiKey?: string): string {
  const escape = (text: string) => text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
  const escapedTitle = escape(title);
  const head = [
    '<!DOCTYPE html>',
    '<html><head>',
    `<title>${escapedTitle} - ReDoc</title>`,
    '<meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1">',
    '<style>body { margin: 0; padding: 0; }</style>',
    '</head><body>',
  ];
  if (apiKey === '') {
    return [
      ...head,
      '<form method="get" action="/redoc" style="font-family: sans-serif; margin: 2em">',
      `<p>${escapedTitle} needs an API key to show its documentation.</p>`,
      '<label>API key <input name="api_key" type="password" autocomplete="off" required></label>',
      '<button type="submit">Show the documentation</button>',
      '</form>',
      '</body></html>',
    ].join('\n');
  }
  const specUrl =
    apiKey === undefined ? '/openapi.json' : `/openapi.json?api_key=${encodeURIComponent(apiKey)}`;
  return [
    ...head,
    `<redoc spec-url="${escape(specUrl)}"></redoc>`,
    `<script src="${REDOC_SCRIPT_PATH}"></script>`,
    '</body></html>',
  ].join('\n');
}
