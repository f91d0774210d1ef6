import type { IncomingMessage } from 'node:http';
import { Logger } from '@nestjs/common';
import { type OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { isQueueUnavailable } from '../jobs/jobs.error';
import { isTerminal, type JobMessage } from './job-update.util';
import { type JobWatch, JobWatchService } from './job-watch.service';
import { JOB_RESULTS_PATH, MAX_PAYLOAD_BYTES } from './realtime-paths';
import { CloseCode, RealtimeSocketsRepository } from './realtime-sockets.repository';
import { matchWsPath } from './ws-path.util';

/**
 * `WS /ws/results/<id>[?partial=true]` (docs/api.md section 5): the job's state on connect, then one
 * message per change, then close 1000 after `complete` or `error`; an unknown id gets one
 * `unknown` message, then close. With `partial=true`, each progress message also carries the
 * summary lines produced since the previous one.
 */
@WebSocketGateway({ path: JOB_RESULTS_PATH, maxPayload: MAX_PAYLOAD_BYTES })
export class JobResultsGateway implements OnGatewayConnection<WebSocket> {
  private readonly logger = new Logger(JobResultsGateway.name);

  constructor(
    private readonly watches: JobWatchService,
    private readonly sockets: RealtimeSocketsRepository,
  ) {}

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    this.follow(socket, request).catch((error: unknown) => {
      const isRedisDown = isQueueUnavailable(error);
      if (!isRedisDown) this.logger.error(`WebSocket ${request.url ?? ''}: ${String(error)}`);
      socket.close(CloseCode.internalError, isRedisDown ? 'Redis is unavailable' : 'Internal error');
    });
  }

  private async follow(socket: WebSocket, request: IncomingMessage): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const jobId = matchWsPath(JOB_RESULTS_PATH, url.pathname)?.id ?? '';
    const withPartial = url.searchParams.get('partial') === 'true';
    // Closed while the first read was in flight: the watch is stopped as soon as it exists.
    const connection: { watch: JobWatch | undefined; isClosed: boolean } = {
      watch: undefined,
      isClosed: false,
    };
    this.sockets.add(socket, { receivesHeartbeats: false }, () => {
      connection.isClosed = true;
      connection.watch?.stop();
    });
    const watch = await this.watches.watch(jobId, withPartial, (message) => this.send(socket, message));
    connection.watch = watch;
    if (connection.isClosed) {
      watch.stop();
      return;
    }
    this.send(socket, watch.initial);
    watch.start();
  }

  private send(socket: WebSocket, message: JobMessage): void {
    this.sockets.send(socket, message);
    if (isTerminal(message)) socket.close(CloseCode.normal, message.status);
  }
}
