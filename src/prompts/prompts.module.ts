import { Module } from '@nestjs/common';
import { PromptStore } from './prompts.repository';

@Module({ providers: [PromptStore], exports: [PromptStore] })
export class PromptsModule {}
