import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module';
import { JobEventsRepository } from './job-events.repository';
import { JobResultsGateway } from './job-results.gateway';
import { JobWatchService } from './job-watch.service';
import { RealtimeSocketsRepository } from './realtime-sockets.repository';
import { ResultsFeedGateway } from './results-feed.gateway';

/** The WebSocket endpoints, pushed from the queue's event stream (docs/architecture.md, "Queue and worker"). */
@Module({
  imports: [JobsModule],
  providers: [
    JobEventsRepository,
    JobWatchService,
    RealtimeSocketsRepository,
    JobResultsGateway,
    ResultsFeedGateway,
  ],
})
export class RealtimeModule {}
