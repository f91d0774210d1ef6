import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../common/api-key.guard';
import { MetricsService } from './metrics.service';

/**
 * `GET /metrics`, Prometheus text, in every role. Public like the health checks: Prometheus
 * scrapes without a key, and the text holds no secret, no job id and no input (README,
 * "Observability"); keep the port off the public internet, or filter `/metrics` at the ingress.
 */
@ApiExcludeController()
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  async scrape(@Res() response: Response): Promise<void> {
    const text = await this.metrics.scrape();
    // Set as is: Express's type() would add a charset some scrapers do not expect.
    response.setHeader('Content-Type', this.metrics.contentType);
    response.end(text);
  }
}
