import type { NestExpressApplication } from '@nestjs/platform-express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Application, Request, Response } from 'express';

/**
 * Headers of the page: its script and style come from the gateway itself, it talks only to the
 * gateway (HTTP and WebSocket), and no other site may frame it.
 */
const PAGE_HEADERS = {
  'Cache-Control': 'no-cache',
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
};

/**
 * Serves the web page (web/, built by `npm run build` into dist/web) at `/` and its hashed
 * assets at `/assets/`. The page and its assets are public, like /redoc: they hold no data, and
 * the page asks for an API key when `/services` answers 401. A gateway whose page was never built
 * answers `/` with a 404 that says so.
 */
export function serveWebPage(app: NestExpressApplication, folder = builtWebPageFolder()): void {
  const page = join(folder, 'index.html');
  const http = app.getHttpAdapter().getInstance() as Application;
  http.get('/', (_request: Request, response: Response) => {
    if (!existsSync(page)) {
      response.status(404).json({ detail: 'The web page is not built: run npm run build' });
      return;
    }
    response.sendFile(page, { headers: PAGE_HEADERS });
  });
  // File names carry a content hash: cached for good.
  app.useStaticAssets(join(folder, 'assets'), {
    prefix: '/assets/',
    index: false,
    immutable: true,
    maxAge: '365d',
  });
}

/**
 * dist/web beside the compiled gateway (dist/common/web-page.js); when the gateway runs from its
 * TypeScript sources (tests), the repository's dist/web.
 */
function builtWebPageFolder(): string {
  const besideCompiled = join(__dirname, '..', 'web');
  return existsSync(besideCompiled) ? besideCompiled : join(__dirname, '..', '..', 'dist', 'web');
}
