import { Logger } from '@nestjs/common';
import { type OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { type RawData, WebSocket } from 'ws';
import { isQueueUnavailable } from '../jobs/jobs.error';
import { type FeedMessage, feedMessage, isTerminal, type JobMessage } from './job-update.util';
import { type JobWatch, JobWatchService } from './job-watch.service';
import { MAX_JOBS_PER_SOCKET, MAX_PAYLOAD_BYTES, RESULTS_FEED_PATH } from './realtime-paths';
import { RealtimeSocketsRepository } from './realtime-sockets.repository';
import { parseSubscriptionFrame } from './subscription-frame.util';

/** What the feed answers to a frame it cannot act on; the socket stays open. */
export interface FeedRefusal {
  status: 'invalid' | 'unavailable';
  detail: string;
}

/**
 * `WS /ws/results` (docs/api.md section 5): every JSON array of job ids the client sends adds them to
 * its subscription and is answered by one array of their states; then one object per change of a
 * subscribed job, and `{"status":"alive"}` every WS_POLLING_INTERVAL. A socket only ever hears
 * of the jobs it named.
 */
@WebSocketGateway({ path: RESULTS_FEED_PATH, maxPayload: MAX_PAYLOAD_BYTES })
export class ResultsFeedGateway implements OnGatewayConnection<WebSocket> {
  private readonly logger = new Logger(ResultsFeedGateway.name);
  /** A change reaches every subscriber of its job as one object: build its feed form once. */
  private readonly feedMessages = new WeakMap<JobMessage, FeedMessage>();

  constructor(
    private readonly watches: JobWatchService,
    private readonly sockets: RealtimeSocketsRepository,
  ) {}

  handleConnection(socket: WebSocket): void {
    const subscriptions = new Map<string, JobWatch>();
    let isClosed = false;
    this.sockets.add(socket, { receivesHeartbeats: false }, () => {
      isClosed = true;
      subscriptions.forEach((watch) => watch.stop());
      subscriptions.clear();
    });
    // Frames are handled one at a time: each array is answered before the next is read.
    let frames = Promise.resolve();
    socket.on('message', (data: RawData) => {
      frames = frames
        .then(() => (isClosed ? undefined : this.subscribe(socket, subscriptions, () => isClosed, data)))
        .catch((error: unknown) => {
          this.logger.error(`WebSocket ${RESULTS_FEED_PATH}: ${String(error)}`);
        });
    });
  }

  private async subscribe(
    socket: WebSocket,
    subscriptions: Map<string, JobWatch>,
    isClosed: () => boolean,
    data: RawData,
  ): Promise<void> {
    const frame = parseSubscriptionFrame(toBuffer(data));
    if (frame.kind === 'invalid') {
      this.refuse(socket, { status: 'invalid', detail: frame.reason });
      return;
    }
    const newIds = frame.jobIds.filter((jobId) => !subscriptions.has(jobId));
    if (subscriptions.size + newIds.length > MAX_JOBS_PER_SOCKET) {
      this.refuse(socket, {
        status: 'invalid',
        detail: `A socket follows at most ${MAX_JOBS_PER_SOCKET} jobs at once; it follows ${subscriptions.size}`,
      });
      return;
    }
    // An id already followed is read again: the answer holds the current state of every id.
    frame.jobIds.forEach((jobId) => {
      subscriptions.get(jobId)?.stop();
      subscriptions.delete(jobId);
    });
    const settled = await Promise.allSettled(
      frame.jobIds.map((jobId) =>
        this.watches.watch(jobId, false, (message) => this.sendChange(socket, subscriptions, jobId, message)),
      ),
    );
    const watches = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failure = settled.find((result) => result.status === 'rejected');
    if (failure || isClosed()) {
      watches.forEach((watch) => watch.stop());
      if (failure) this.refuseForError(socket, failure.reason);
      return;
    }
    this.sockets.send(
      socket,
      watches.map((watch) => feedMessage(watch.jobId, watch.initial)),
    );
    // v1 sent nothing before answering the first array: heartbeats start after it.
    this.sockets.startHeartbeats(socket);
    for (const watch of watches) {
      if (isTerminal(watch.initial)) {
        watch.stop();
        continue;
      }
      subscriptions.set(watch.jobId, watch);
      watch.start();
    }
  }

  private sendChange(
    socket: WebSocket,
    subscriptions: Map<string, JobWatch>,
    jobId: string,
    message: JobMessage,
  ): void {
    let entry = this.feedMessages.get(message);
    if (!entry) {
      entry = feedMessage(jobId, message);
      this.feedMessages.set(message, entry);
    }
    this.sockets.send(socket, entry);
    if (isTerminal(message)) {
      subscriptions.get(jobId)?.stop();
      subscriptions.delete(jobId);
    }
  }

  private refuseForError(socket: WebSocket, error: unknown): void {
    if (isQueueUnavailable(error)) {
      this.refuse(socket, { status: 'unavailable', detail: 'Redis is unavailable: send the job ids again' });
      return;
    }
    this.logger.error(`WebSocket ${RESULTS_FEED_PATH}: ${String(error)}`);
    this.refuse(socket, { status: 'unavailable', detail: 'Internal error: send the job ids again' });
  }

  private refuse(socket: WebSocket, refusal: FeedRefusal): void {
    this.sockets.send(socket, refusal);
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
