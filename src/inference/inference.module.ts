import { Module } from '@nestjs/common';
import { InferenceClient } from './inference.client';

@Module({ providers: [InferenceClient], exports: [InferenceClient] })
export class InferenceModule {}
