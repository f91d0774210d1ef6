import { createHash } from 'node:crypto';
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

  /**
   * Validates, then stores the job in Redis; nothing is stored (or nothing runs) on any error.
   * The same `Idempotency-Key` from the same API key gives the same job within RESULT_TTL.
   */
  async generate(
    route: string,
    raw: RawGenerateRequest,
    idempotency?: IdempotencyHeaders,
  ): Promise<QueuedJob> {
    const { service, flavor, fallbacks, text } = this.resolveRequest(route, raw);
    const idempotencyKey = idempotency?.idempotencyKey?.trim();
    if (idempotencyKey !== undefined && (idempotencyKey === '' || idempotencyKey.length > 255)) {
      throw new ServicesError('Idempotency-Key must hold 1 to 255 characters', 'INVALID_PARAMETER');
    }
    const jobId = await this.jobs.enqueue(
      {
        service: { route: service.route, promptName: service.manifest.name, fields: service.manifest.fields },
        flavor,
        ...(fallbacks.length > 0 ? { fallbackFlavors: fallbacks } : {}),
        text,
      },
      idempotencyKey === undefined ? undefined : scopedIdempotencyKey(idempotencyKey, idempotency?.apiKey),
    );
    return { message: 'Request successfully queued', jobId };
  }
}

/** What a generate request's headers say about idempotency: the key, and the API key it is scoped to. */
export interface IdempotencyHeaders {
  idempotencyKey: string | undefined;
  apiKey: string | undefined;
}

/**
 * Keys are per API key (two clients never share a job by choosing the same key) and stored as a
 * digest: neither the client's key nor its API key is ever written to Redis.
 */
function scopedIdempotencyKey(idempotencyKey: string, apiKey: string | undefined): string {
  return createHash('sha256')
    .update(`${apiKey ?? ''}\n${idempotencyKey}`)
    .digest('hex');
}
