import { Injectable } from '@nestjs/common';
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
  constructor(private readonly registry: ServicesRegistry) {}

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

  generate(route: string, raw: RawGenerateRequest): Promise<QueuedJob> {
    this.resolveRequest(route, raw);
    // The queue arrives with the job pipeline; until then a valid request is refused honestly.
    return Promise.reject(new ServicesError('job pipeline not available', 'PIPELINE_UNAVAILABLE'));
  }
}
