import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RedisClient } from '../redis/redis.client';
import { SUMMARIZATION_QUEUE } from './job-payload';
import { JobStateRepository } from './job-state.repository';
import { JobsController } from './jobs.controller';
import { JobsRepository } from './jobs.repository';
import { JobsService } from './jobs.service';

/**
 * The API side of jobs: the queue (on the API process's fail-fast connection, which BullMQ
 * leaves open: RedisClient owns it), `/results`, and each job's own keys.
 */
@Module({
  imports: [
    BullModule.registerQueueAsync({
      name: SUMMARIZATION_QUEUE,
      inject: [RedisClient],
      useFactory: (redis: RedisClient) => ({ connection: redis.connection }),
    }),
  ],
  controllers: [JobsController],
  providers: [
    {
      provide: JobStateRepository,
      inject: [RedisClient, APP_CONFIG],
      useFactory: (redis: RedisClient, config: AppConfig) =>
        new JobStateRepository(redis.connection, config.resultTtlSeconds),
    },
    JobsRepository,
    JobsService,
  ],
  exports: [JobsService],
})
export class JobsModule {}
