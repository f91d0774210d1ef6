import { WebSocket } from 'ws';

/** A WebSocket client that keeps every message it receives, parsed, and how the socket closed. */
export class TestSocket {
  readonly messages: unknown[] = [];
  closeEvent: { code: number; reason: string } | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      this.messages.push(JSON.parse(data.toString('utf8')));
      this.wake();
    });
    socket.on('close', (code: number, reason: Buffer) => {
      this.closeEvent = { code, reason: reason.toString('utf8') };
      this.wake();
    });
    socket.on('error', () => undefined); // surfaced as a close
  }

  /** Opens `url` (ws://…); rejects with the server's HTTP status when the upgrade is refused. */
  static open(url: string, headers: Record<string, string> = {}): Promise<TestSocket> {
    const socket = new WebSocket(url, { headers });
    const client = new TestSocket(socket);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_request, response) => {
        reject(new Error(`upgrade refused: ${response.statusCode ?? '?'}`));
        socket.terminate();
      });
      socket.once('error', reject);
    });
  }

  send(value: unknown): void {
    this.socket.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  /** Resolves with the messages once `isDone(messages)` holds; fails after `timeoutMs`. */
  async waitUntil(
    isDone: (messages: unknown[]) => boolean,
    timeoutMs = 30_000,
    what = 'messages',
  ): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    while (!isDone(this.messages)) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(
          `timed out waiting for ${what}; received ${JSON.stringify(this.messages).slice(-500)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(remaining, 1_000));
        this.waiters.add(wake);
      });
    }
    return this.messages;
  }

  /** Resolves once the server has closed (or the connection dropped), with the close frame. */
  async closed(timeoutMs = 30_000): Promise<{ code: number; reason: string }> {
    await this.waitUntil(() => this.closeEvent !== undefined, timeoutMs, 'the socket to close');
    return this.closeEvent ?? { code: 0, reason: '' };
  }

  close(): void {
    this.socket.close();
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    waiters.forEach((wake) => wake());
  }
}

/** The ws:// form of an http:// base URL. */
export function wsUrl(baseUrl: string, path: string): string {
  return baseUrl.replace(/^http/, 'ws') + path;
}
