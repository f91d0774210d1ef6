import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import { matchWsPath } from './ws-path.util';

/**
 * `@nestjs/platform-ws`'s adapter, on the HTTP server's port, with two changes: a gateway path
 * may hold `:name` segments (`/ws/results/:id`), and an upgrade is refused with a real HTTP
 * status (404 for an unknown path, 401 without a valid API key) instead of a dropped socket.
 * Frames are read by the gateways themselves (plain JSON arrays, not Nest's `{event, data}`).
 */
export class RealtimeWsAdapter extends WsAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly isAuthorized: (request: http.IncomingMessage) => boolean,
  ) {
    super(app, { messageParser: () => undefined });
  }

  protected override ensureHttpServerExists(
    port: number,
    httpServer: http.Server = http.createServer(),
  ): http.Server | undefined {
    if (this.httpServersRegistry.has(port)) return undefined;
    this.httpServersRegistry.set(port, httpServer);
    httpServer.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(port, request, socket, head);
    });
    return httpServer;
  }

  private upgrade(port: number, request: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    const servers = (this.wsServersRegistry.get(port) ?? []) as (WebSocketServer & { path: string })[];
    const server = servers.find((candidate) => matchWsPath(candidate.path, pathname) !== undefined);
    if (!server) {
      refuse(socket, 404, 'Not Found');
      return;
    }
    if (!this.isAuthorized(request)) {
      refuse(socket, 401, 'Unauthorized');
      return;
    }
    server.handleUpgrade(request, socket, head, (client: WebSocket) => {
      server.emit('connection', client, request);
    });
  }
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
