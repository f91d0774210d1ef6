import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { RedisClient } from '../redis/redis.client';
import type { ServiceDefinition } from './manifest-validation.util';
import { ServicesRegistry } from './services-registry.service';

/** v1 kept the loaded services list in this key; other tools read it. */
export const SERVICES_CONFIG_KEY = 'services_config';

/** Publishes the served list to Redis after every change and after every reconnection. */
@Injectable()
export class ServicesConfigRepository implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ServicesConfigRepository.name);
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly registry: ServicesRegistry,
    private readonly redis: RedisClient,
  ) {}

  onModuleInit(): void {
    this.unsubscribe = this.registry.onChange((services) => void this.publish(services));
    this.redis.onReady(() => void this.publish(this.registry.list()));
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
  }

  private async publish(services: readonly ServiceDefinition[]): Promise<void> {
    if (!this.redis.isReady) return; // published again by onReady once Redis is back
    try {
      const list = services.map((service) => service.published);
      await this.redis.connection.set(SERVICES_CONFIG_KEY, JSON.stringify(list));
    } catch (error) {
      this.logger.warn(`Publishing ${SERVICES_CONFIG_KEY} to Redis failed: ${String(error)}`);
    }
  }
}

/**
 * The services list an API process published last (`services_config`, the manifests as
 * `GET /services` shows them), parsed; undefined when none was published. A worker reads it to
 * learn the configured flavors without reading manifest files.
 */
export async function readPublishedServices(connection: Redis): Promise<unknown> {
  const text = await connection.get(SERVICES_CONFIG_KEY);
  return text === null ? undefined : (JSON.parse(text) as unknown);
}
