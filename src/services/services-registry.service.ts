import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { PromptError } from '../prompts/prompt.error';
import { PromptStore } from '../prompts/prompts.repository';
import { describeRejection, type ManifestProblem } from './manifest.error';
import { parseManifestFile, type ServiceDefinition } from './manifest-validation.util';

export type RegistryListener = (services: readonly ServiceDefinition[]) => void;

/**
 * The single source of truth, in this process, of which services are served. Holds the last
 * good version of each manifest file: a rejected file keeps its previous version serving and
 * leaves the other files alone. Callers (the manifest watcher) apply one file at a time.
 */
@Injectable()
export class ServicesRegistry {
  private readonly servingByFile = new Map<string, ServiceDefinition[]>();
  private readonly listeners = new Set<RegistryListener>();
  private readonly logger = new Logger(ServicesRegistry.name);

  constructor(
    private readonly promptStore: PromptStore,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'interpolationEnv'>,
  ) {}

  /** Services in file-name order, then in their order within the file. */
  list(): ServiceDefinition[] {
    return [...this.servingByFile.keys()].sort().flatMap((file) => this.servingByFile.get(file) ?? []);
  }

  findByRoute(route: string): ServiceDefinition | undefined {
    for (const services of this.servingByFile.values()) {
      const match = services.find((service) => service.route === route);
      if (match) return match;
    }
    return undefined;
  }

  /**
   * Validates a new version of a manifest file (schema, prompt files, routes unique across
   * files) and serves it if valid. Returns whether it was accepted; a rejection is logged once,
   * on one line naming the file, service key and field.
   */
  async applyFile(fileLabel: string, text: string): Promise<boolean> {
    const parsed = parseManifestFile(text, this.config.interpolationEnv);
    const problems = parsed.isValid
      ? [
          ...(await this.checkPrompts(parsed.services)),
          ...this.checkRouteConflicts(fileLabel, parsed.services),
        ]
      : parsed.problems;
    if (problems.length > 0 || !parsed.isValid) {
      const keeps = this.servingByFile.has(fileLabel)
        ? 'the previous version keeps serving'
        : 'none of its services are served';
      this.logger.error(`${describeRejection(fileLabel, problems)} (${keeps})`);
      return false;
    }
    parsed.warnings.forEach((warning) => this.logger.warn(`Manifest ${fileLabel}: ${warning}`));
    const services = parsed.services.map((service) => ({ ...service, fileLabel }));
    this.servingByFile.set(fileLabel, services);
    const routes = services.map((service) => service.route).join(', ') || 'no service';
    this.logger.log(`Manifest ${fileLabel} loaded: ${routes}`);
    this.notify();
    return true;
  }

  removeFile(fileLabel: string): void {
    if (!this.servingByFile.delete(fileLabel)) return;
    this.logger.log(`Manifest ${fileLabel} removed: its services are no longer served`);
    this.notify();
  }

  /** Calls `listener` after every change of the served list; returns an unsubscribe function. */
  onChange(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    const services = this.list();
    this.listeners.forEach((listener) => listener(services));
  }

  private async checkPrompts(services: readonly ServiceDefinition[]): Promise<ManifestProblem[]> {
    const problems: ManifestProblem[] = [];
    for (const service of services) {
      const checks: { field: string; name: string; placeholders: number }[] = [
        { field: 'name', name: service.manifest.name, placeholders: service.manifest.fields },
        ...service.manifest.flavor.flatMap((flavor, index) =>
          flavor.reduce_prompt === undefined
            ? []
            : [{ field: `flavor[${index}].reduce_prompt`, name: flavor.reduce_prompt, placeholders: 1 }],
        ),
      ];
      for (const check of checks) {
        try {
          await this.promptStore.check(check.name, check.placeholders);
        } catch (error) {
          if (!(error instanceof PromptError)) throw error;
          problems.push({
            code: 'PROMPT_INVALID',
            serviceKey: service.key,
            field: check.field,
            message: error.message,
          });
        }
      }
    }
    return problems;
  }

  private checkRouteConflicts(fileLabel: string, services: readonly ServiceDefinition[]): ManifestProblem[] {
    return services.flatMap((service) => {
      const owner = this.findByRoute(service.route);
      return owner && owner.fileLabel !== fileLabel
        ? [
            {
              code: 'DUPLICATE_ROUTE' as const,
              serviceKey: service.key,
              field: 'route',
              message: `route "${service.route}" is already served by ${owner.fileLabel} (service "${owner.key}")`,
            },
          ]
        : [];
    });
  }
}
