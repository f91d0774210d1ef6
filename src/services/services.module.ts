import { Module } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { JobsModule } from '../jobs/jobs.module';
import { PromptsModule } from '../prompts/prompts.module';
import { ManifestsRepository } from './manifests.repository';
import { ServicesConfigRepository } from './services-config.repository';
import { ServicesController } from './services.controller';
import { ServicesRegistry } from './services-registry.service';
import { ServicesService } from './services.service';

@Module({
  imports: [
    PromptsModule,
    JobsModule,
    MulterModule.registerAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        limits: { fileSize: config.maxUploadBytes, files: 1, fields: 16, fieldSize: 64 * 1024 },
      }),
    }),
  ],
  controllers: [ServicesController],
  providers: [ServicesRegistry, ManifestsRepository, ServicesConfigRepository, ServicesService],
  exports: [ServicesRegistry, ServicesService],
})
export class ServicesModule {}
