// The baseline of the submissions figure in peer.bench.ts: a bare NestJS application (Express,
// Nest's default JSON body parser) with one POST route that parses the body and answers as the
// gateway's generate route does, without queueing anything. Started as a child process on PORT.
import { randomUUID } from 'node:crypto';
import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

@Controller()
class BareController {
  @Post('generate')
  @HttpCode(200)
  generate(@Body() body: unknown): { message: string; jobId: string } {
    if (typeof body !== 'object' || body === null) throw new Error('a JSON object was expected');
    return { message: 'Request successfully queued', jobId: randomUUID() };
  }
}

@Module({ controllers: [BareController] })
class BareModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(BareModule, { logger: false });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT), '127.0.0.1');
  process.stdout.write('ready\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`bare NestJS app failed: ${String(error)}\n`);
  process.exit(1);
});
