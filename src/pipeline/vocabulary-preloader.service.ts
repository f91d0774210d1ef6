import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type Redis from 'ioredis';
import { readPublishedServices } from '../services/services-config.repository';
import { ServicesRegistry } from '../services/services-registry.service';
import { TokenizersService } from '../tokenizers/tokenizers.service';
import { preloadFetch } from './fetch-preload';
import { type FlavorVocabulary, publishedFlavorVocabularies } from './published-flavors.util';
import { TurnSplitter } from './turn-splitter.client';
import { WORKER_CONNECTION } from './summarization.processor';

/** How often a worker without manifests of its own (ROLE=worker) reads the published list. */
const PUBLISHED_SERVICES_POLL_MS = 30_000;

/**
 * Loads the vocabulary of every configured flavor when the worker starts and whenever the
 * manifests change, on the event loop and in the split threads, so that no job pays for a load
 * (0.1–0.4 s each). In ROLE=all the flavors come from this process's services registry (its
 * change notifications); in ROLE=worker, from the list the API processes publish to Redis
 * (`services_config`), read at start-up and every 30 s. Loads Node's fetch at start-up too, for
 * the same reason (see preloadFetch).
 */
@Injectable()
export class VocabularyPreloader implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(VocabularyPreloader.name);
  private unsubscribe: (() => void) | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastPublishedText: string | undefined;

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly tokenizers: TokenizersService,
    private readonly splitter: TurnSplitter,
    @Inject(WORKER_CONNECTION) private readonly connection: Redis,
  ) {}

  onApplicationBootstrap(): void {
    preloadFetch();
    const registry = this.registry();
    if (registry) {
      this.preload(registry.list().flatMap((service) => service.manifest.flavor));
      this.unsubscribe = registry.onChange((services) =>
        this.preload(services.flatMap((service) => service.manifest.flavor)),
      );
      return;
    }
    // Never awaited: a Redis outage must not hold the worker's start-up.
    if (this.connection.status === 'ready') void this.readPublished();
    else this.connection.once('ready', () => void this.readPublished());
    this.pollTimer = setInterval(() => void this.readPublished(), PUBLISHED_SERVICES_POLL_MS);
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
    clearInterval(this.pollTimer);
  }

  /** This process's registry in ROLE=all; none in ROLE=worker. */
  private registry(): ServicesRegistry | undefined {
    try {
      return this.moduleRef.get(ServicesRegistry, { strict: false });
    } catch {
      return undefined;
    }
  }

  private async readPublished(): Promise<void> {
    if (this.connection.status !== 'ready') return; // the next poll tries again
    try {
      const published = await readPublishedServices(this.connection);
      const text = JSON.stringify(published);
      if (text === this.lastPublishedText) return;
      this.lastPublishedText = text;
      this.preload(publishedFlavorVocabularies(published));
    } catch (error) {
      this.logger.warn(`Reading the published services list failed: ${String(error)}`);
    }
  }

  private preload(flavors: readonly FlavorVocabulary[]): void {
    const families = this.tokenizers.preload(flavors);
    this.splitter.preload(families).catch((error: unknown) => {
      this.logger.warn(`Loading vocabularies in the split threads failed: ${String(error)}`);
    });
  }
}
