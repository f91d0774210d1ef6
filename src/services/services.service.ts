import { Injectable } from '@nestjs/common';
import { JobsService } from '../jobs/jobs.service';
import {
  type GenerateRequest,
  type RawGenerateRequest,
  validateGenerateRequest,
} from './generate-request.util';
import { ServicesRegistry } from './services-registry.service';
import { ServicesError } from './services.error';

export interface QueuedJob {
  message: 'Request successfully queued';
  jobId: string;
}

@Injectable()
export class ServicesService {
  constructor(
    private readonly registry: ServicesRegistry,
    private readonly jobs: JobsService,
  ) {}

  listPublished(): Record<string, unknown>[] {
    const services = this.registry.list();
    if (services.length === 0) throw new ServicesError('No services available', 'NO_SERVICES');
    return services.map((service) => service.published);
  }

  /** Resolves the route at request time, so a changed manifest never needs a route re-registered. */
  resolveRequest(route: string, raw: RawGenerateRequest): GenerateRequest {
    const service = this.registry.findByRoute(route);
    if (!service) throw new ServicesError('Service not found', 'SERVICE_NOT_FOUND');
    return validateGenerateRequest(service, raw);
  }

  /** Validates, then stores the job in Redis; nothing is stored on any error. */
  async generate(route: string, raw: RawGenerateRequest): Promise<QueuedJob> {
    const { service, flavor, text } = this.resolveRequest(route, raw);
    const jobId = await this.jobs.enqueue({
      service: { route: service.route, promptName: service.manifest.name, fields: service.manifest.fields },
      flavor,
      text,
    });
    return { message: 'Request successfully queued', jobId };
  }
}
