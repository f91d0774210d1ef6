import { Module } from '@nestjs/common';
import { DependencyProbesClient } from './dependency-probes.client';
import { HealthController } from './health.controller';

@Module({ controllers: [HealthController], providers: [DependencyProbesClient] })
export class HealthModule {}
