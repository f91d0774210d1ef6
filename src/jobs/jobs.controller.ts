import { Controller, Delete, Get, Param, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiInternalServerErrorResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Response } from 'express';
import {
  errorContent,
  REDIS_UNAVAILABLE_RESPONSE,
  schemaRef,
  UNAUTHORIZED_RESPONSE,
} from '../api-schemas/error-detail.dto';
import { JobsService } from './jobs.service';

const JOB_ID = {
  name: 'id',
  description: 'The job id (`jobId` of the generate answer).',
  example: '6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f',
};

@ApiTags('results')
@Controller('results')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get(':id')
  @ApiOperation({
    operationId: 'getResult',
    summary: "A job's state: queued, started, processing (with progress), complete or error",
    description:
      'The HTTP status tells the state apart as v1 did: 202 while the job runs, 200 once complete, 500 when it failed, 404 when it never existed or expired. Every body has `status` and `message` (`JobState`). To follow a job without polling, use `WS /ws/results/{id}` (see /asyncapi.json).',
  })
  @ApiParam(JOB_ID)
  @ApiOkResponse({ description: 'Complete, with the summarization.', schema: schemaRef('CompleteState') })
  @ApiAcceptedResponse({
    description: 'Queued, started or processing (with its progress).',
    schema: schemaRef('PendingJobState'),
  })
  @ApiUnauthorizedResponse(UNAUTHORIZED_RESPONSE)
  @ApiNotFoundResponse({
    description: 'Never existed, or finished more than RESULT_TTL ago.',
    schema: schemaRef('UnknownTask'),
  })
  @ApiInternalServerErrorResponse({
    description: 'Failed (or cancelled): the reason is in `details` and `error`.',
    schema: schemaRef('ErrorState'),
  })
  @ApiServiceUnavailableResponse(REDIS_UNAVAILABLE_RESPONSE)
  async result(@Param('id') id: string, @Res({ passthrough: true }) response: Response): Promise<object> {
    const { httpStatus, body } = await this.jobs.result(id);
    response.status(httpStatus);
    return body.status === 'unknown' ? { detail: 'Unknown task status', ...body } : body;
  }

  @Delete(':id')
  @ApiOperation({
    operationId: 'cancelResult',
    summary: 'Cancel a queued or running job (it ends as error "cancelled"), or delete a finished one',
    description:
      'A running job stops at its next batch boundary; its state becomes `error` with the reason `cancelled`.',
  })
  @ApiParam(JOB_ID)
  @ApiOkResponse({ description: 'Cancelled or deleted.', schema: schemaRef('CancelResult') })
  @ApiUnauthorizedResponse(UNAUTHORIZED_RESPONSE)
  @ApiNotFoundResponse({ description: 'No such job.', content: errorContent('Unknown task') })
  @ApiServiceUnavailableResponse(REDIS_UNAVAILABLE_RESPONSE)
  cancel(@Param('id') id: string): Promise<object> {
    return this.jobs.cancelOrDelete(id);
  }
}
