import { Module } from '@nestjs/common';
import { InferenceModule } from '../inference/inference.module';
import { PromptsModule } from '../prompts/prompts.module';
import { TokenizersModule } from '../tokenizers/tokenizers.module';
import { SummarizationWorker } from './summarization.worker';

@Module({
  imports: [PromptsModule, TokenizersModule, InferenceModule],
  providers: [SummarizationWorker],
})
export class PipelineModule {}
