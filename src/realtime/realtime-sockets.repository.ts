import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { WebSocket } from 'ws';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';

/** Close codes of RFC 6455 used by the gateway. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  internalError: 1011,
  /** The server is overloaded (here: the client does not read what it is sent). */
  tryAgainLater: 1013,
} as const;

/** A client that lets this much pile up unread is dropped rather than held in memory. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** A peer that answered none of this many pings in a row is gone (a dead TCP connection). */
const MAX_MISSED_PINGS = 2;
/** At shutdown, how long clients get to answer the close frame before they are cut. */
const CLOSE_GRACE_MS = 1_000;

interface Connection {
  /**
   * `WS /ws/results` sockets get `{"status":"alive"}` heartbeats once their first array has been
   * answered (v1 sent nothing before it); per-job sockets never do (v1).
   */
  receivesHeartbeats: boolean;
  missedPings: number;
}

/**
 * Every WebSocket of this API process. One timer for all of them (every WS_POLLING_INTERVAL):
 * heartbeats for the multi-job sockets, a protocol ping for all, and dead peers (no pong to the
 * last pings) terminated. Shutdown closes each socket with 1001.
 */
@Injectable()
export class RealtimeSocketsRepository implements OnModuleDestroy {
  private readonly connections = new Map<WebSocket, Connection>();
  private readonly tickTimer: NodeJS.Timeout;
  private isShuttingDown = false;
  /** One event goes to many sockets as the same object: serialize it once. */
  private readonly serialized = new WeakMap<object, string>();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.tickTimer = setInterval(() => this.tick(), config.wsPollingIntervalSeconds * 1000);
    this.tickTimer.unref();
  }

  /** Tracks a new socket; `onClose` runs once when it closes, however it closes. */
  add(socket: WebSocket, options: { receivesHeartbeats: boolean }, onClose: () => void): void {
    const connection: Connection = { receivesHeartbeats: options.receivesHeartbeats, missedPings: 0 };
    this.connections.set(socket, connection);
    this.metrics.webSocketOpened();
    socket.on('pong', () => {
      connection.missedPings = 0;
    });
    socket.on('error', () => undefined); // a reset peer: 'close' follows
    socket.once('close', () => {
      this.connections.delete(socket);
      this.metrics.webSocketClosed();
      onClose();
    });
    // Arrived during shutdown: closed at once, and `onClose` still frees what its gateway set up.
    if (this.isShuttingDown) socket.close(CloseCode.goingAway, 'Server shutting down');
  }

  /** From now on, `socket` gets `{"status":"alive"}` at every tick. */
  startHeartbeats(socket: WebSocket): void {
    const connection = this.connections.get(socket);
    if (connection) connection.receivesHeartbeats = true;
  }

  /** Sends one JSON message; false when the socket is no longer open. */
  send(socket: WebSocket, message: object): boolean {
    if (socket.readyState !== WebSocket.OPEN) return false;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      socket.terminate();
      return false;
    }
    let text = this.serialized.get(message);
    if (text === undefined) {
      text = JSON.stringify(message);
      this.serialized.set(message, text);
    }
    socket.send(text);
    return true;
  }

  /** Open sockets of this process (what the leak tests count). */
  count(): number {
    return this.connections.size;
  }

  async onModuleDestroy(): Promise<void> {
    this.isShuttingDown = true;
    clearInterval(this.tickTimer);
    const sockets = [...this.connections.keys()];
    const closed = sockets.map(
      (socket) =>
        new Promise<void>((resolve) =>
          socket.readyState === WebSocket.CLOSED ? resolve() : socket.once('close', () => resolve()),
        ),
    );
    sockets.forEach((socket) => socket.close(CloseCode.goingAway, 'Server shutting down'));
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(closed),
      new Promise((resolve) => (graceTimer = setTimeout(resolve, CLOSE_GRACE_MS))),
    ]);
    clearTimeout(graceTimer);
    sockets.forEach((socket) => socket.terminate());
  }

  private tick(): void {
    for (const [socket, connection] of this.connections) {
      if (socket.readyState !== WebSocket.OPEN) continue;
      if (connection.missedPings >= MAX_MISSED_PINGS) {
        socket.terminate();
        continue;
      }
      connection.missedPings += 1;
      socket.ping();
      if (connection.receivesHeartbeats) this.send(socket, { status: 'alive' });
    }
  }
}
