import { Module } from '@nestjs/common';
import { TokenizersService } from './tokenizers.service';

@Module({ providers: [TokenizersService], exports: [TokenizersService] })
export class TokenizersModule {}
