import { Controller, Delete, Get, Param, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { JobsService } from './jobs.service';

const stateSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['queued', 'started', 'processing', 'complete', 'error', 'unknown'] },
    message: { type: 'string' },
    progress: { type: 'string', description: 'Integer percent, as a string (v1)', example: '42' },
    summarization: { type: 'string' },
    details: { type: 'string' },
    error: { type: 'string' },
  },
};

@ApiTags('results')
@Controller('results')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get(':id')
  @ApiOperation({ summary: "A job's state: queued, started, processing (with progress), complete or error" })
  @ApiResponse({ status: 200, description: 'complete, with the summarization', schema: stateSchema })
  @ApiResponse({ status: 202, description: 'queued, started or processing', schema: stateSchema })
  @ApiResponse({ status: 404, description: 'never existed or expired' })
  @ApiResponse({
    status: 500,
    description: 'failed: the reason is in details and error',
    schema: stateSchema,
  })
  @ApiResponse({ status: 503, description: 'Redis is unavailable' })
  async result(@Param('id') id: string, @Res({ passthrough: true }) response: Response): Promise<object> {
    const { httpStatus, body } = await this.jobs.result(id);
    response.status(httpStatus);
    return body.status === 'unknown' ? { detail: 'Unknown task status', ...body } : body;
  }

  @Delete(':id')
  @ApiOperation({
    summary: 'Cancel a queued or running job (it ends as error "cancelled"), or delete a finished one',
  })
  @ApiOkResponse({
    schema: {
      type: 'object',
      properties: { status: { enum: ['cancelled', 'deleted'] }, message: { type: 'string' } },
    },
  })
  @ApiResponse({ status: 404, description: 'Unknown task' })
  cancel(@Param('id') id: string): Promise<object> {
    return this.jobs.cancelOrDelete(id);
  }
}
