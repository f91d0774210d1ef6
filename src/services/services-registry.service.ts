import { basename, extname } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { servicesDefaultsOrder } from '../config/services-defaults.util';
import { PromptError } from '../prompts/prompt.error';
import { PromptStore } from '../prompts/prompts.repository';
import { describeRejection, type ManifestProblem } from './manifest.error';
import { parseManifestFile, type ServiceDefinition } from './manifest-validation.util';

export type RegistryListener = (services: readonly ServiceDefinition[]) => void;

/** The last version of a file that passed its own checks (schema, prompts). */
interface Candidate {
  services: ServiceDefinition[];
  /** The file's text: the same text checked again (its prompts changed) is not logged again. */
  text: string;
  /** When the file was first accepted: among unlisted files, the earlier one keeps its routes. */
  arrival: number;
}

/**
 * The single source of truth, in this process, of which services are served. Holds the last
 * good version of each manifest file: a rejected file keeps its previous version serving and
 * leaves the other files alone. Precedence follows `config.yaml`'s `defaults:` list, as in v1:
 * the files it lists come first, in its order, and win any route conflict; an unlisted file is
 * served after them unless one of its routes belongs to a file ranked before it (then it is
 * rejected with a warning naming both files, and comes back when the conflict goes away).
 * Callers (the manifest watcher) apply one file at a time.
 */
@Injectable()
export class ServicesRegistry {
  private readonly candidates = new Map<string, Candidate>();
  /** Files served now, in precedence order. */
  private served: string[] = [];
  /** The services of the files served, in order, and by route: rebuilt when the list changes. */
  private servedServices: readonly ServiceDefinition[] = [];
  private servedByRoute = new Map<string, ServiceDefinition>();
  private arrivals = 0;
  private servicesOrder: readonly string[] | undefined;
  private configYaml: unknown;
  private readonly listeners = new Set<RegistryListener>();
  private readonly logger = new Logger(ServicesRegistry.name);

  constructor(
    private readonly promptStore: PromptStore,
    @Inject(APP_CONFIG)
    private readonly config: Pick<AppConfig, 'interpolationEnv' | 'configYaml' | 'servicesOrder'>,
  ) {
    this.servicesOrder = config.servicesOrder;
    this.configYaml = config.configYaml;
  }

  /** Services in precedence order (`defaults:` order, then the other files), then file order. */
  list(): readonly ServiceDefinition[] {
    return this.servedServices;
  }

  /** Read on every submission: a lookup in the map the last change built. */
  findByRoute(route: string): ServiceDefinition | undefined {
    return this.servedByRoute.get(route);
  }

  /**
   * Takes a new `config.yaml` (parsed, before interpolation): its `defaults:` list re-ranks the
   * files at once; the caller re-applies every manifest so that node references follow it.
   */
  setConfigYaml(configYaml: unknown): void {
    this.configYaml = configYaml;
    const order = servicesDefaultsOrder(configYaml);
    if (JSON.stringify(order) === JSON.stringify(this.servicesOrder)) return;
    this.servicesOrder = order;
    this.logger.log(`config.yaml defaults: services ${order ? `[${order.join(', ')}]` : 'not listed'}`);
    this.recompute();
  }

  /**
   * Validates a new version of a manifest file (schema, prompt files, routes unique across
   * files) and serves it if valid. Returns whether it was accepted; a rejection is logged once,
   * on one line naming the file, service key and field.
   */
  async applyFile(fileLabel: string, text: string): Promise<boolean> {
    const parsed = parseManifestFile(text, this.config.interpolationEnv, this.configYaml);
    const problems = parsed.isValid
      ? [
          ...(await this.checkPrompts(parsed.services)),
          ...this.routesTakenBefore(fileLabel, parsed.services).map(({ service, owner }) =>
            conflict(service, owner),
          ),
        ]
      : parsed.problems;
    if (problems.length > 0 || !parsed.isValid) {
      const keeps = this.served.includes(fileLabel)
        ? 'the previous version keeps serving'
        : 'none of its services are served';
      // A file that only claims routes of files ranked before it is a warning (v1 let them win).
      const isOnlyConflict =
        problems.length > 0 && problems.every((problem) => problem.code === 'DUPLICATE_ROUTE');
      const line = `${describeRejection(fileLabel, problems)} (${keeps})`;
      if (isOnlyConflict) this.logger.warn(line);
      else this.logger.error(line);
      return false;
    }
    parsed.warnings.forEach((warning) => this.logger.warn(`Manifest ${fileLabel}: ${warning}`));
    const services = parsed.services.map((service) => ({ ...service, fileLabel }));
    const previous = this.candidates.get(fileLabel);
    const arrival = previous?.arrival ?? this.arrivals++;
    this.candidates.set(fileLabel, { services, text, arrival });
    const routes = services.map((service) => service.route).join(', ') || 'no service';
    if (previous?.text !== text || !this.served.includes(fileLabel)) {
      this.logger.log(`Manifest ${fileLabel} loaded: ${routes}`);
    }
    this.recompute(fileLabel);
    return true;
  }

  removeFile(fileLabel: string): void {
    if (!this.candidates.delete(fileLabel)) return;
    if (this.served.includes(fileLabel)) {
      this.logger.log(`Manifest ${fileLabel} removed: its services are no longer served`);
    }
    this.recompute(fileLabel);
  }

  /** Calls `listener` after every change of the served list; returns an unsubscribe function. */
  onChange(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Files by precedence: listed ones in `defaults:` order, then the others by arrival. */
  private rankedFiles(): string[] {
    const listedRank = (file: string) => {
      const index = this.servicesOrder?.indexOf(manifestName(file)) ?? -1;
      return index === -1 ? Number.POSITIVE_INFINITY : index;
    };
    return [...this.candidates.keys()].sort(
      (a, b) =>
        listedRank(a) - listedRank(b) ||
        (this.candidates.get(a)?.arrival ?? 0) - (this.candidates.get(b)?.arrival ?? 0),
    );
  }

  /** Routes of `services` that a file ranked before `fileLabel` serves now. */
  private routesTakenBefore(
    fileLabel: string,
    services: readonly ServiceDefinition[],
  ): { service: ServiceDefinition; owner: ServiceDefinition }[] {
    const ranked = this.rankedFiles();
    const position = ranked.includes(fileLabel) ? ranked.indexOf(fileLabel) : this.rankOfNewFile(fileLabel);
    const owners = ranked
      .slice(0, position)
      .filter((file) => file !== fileLabel && this.served.includes(file))
      .flatMap((file) => this.candidates.get(file)?.services ?? []);
    return services.flatMap((service) => {
      const owner = owners.find((candidate) => candidate.route === service.route);
      return owner ? [{ service, owner }] : [];
    });
  }

  /** Where a file not yet accepted would rank: listed files by the list, others last. */
  private rankOfNewFile(fileLabel: string): number {
    const ranked = this.rankedFiles();
    const index = this.servicesOrder?.indexOf(manifestName(fileLabel)) ?? -1;
    if (index === -1) return ranked.length;
    const firstAfter = ranked.findIndex((file) => {
      const other = this.servicesOrder?.indexOf(manifestName(file)) ?? -1;
      return other === -1 || other > index;
    });
    return firstAfter === -1 ? ranked.length : firstAfter;
  }

  /**
   * Serves each file in precedence order unless a file before it holds one of its routes; logs
   * every file that starts or stops being shadowed that way, and notifies when the list changed.
   */
  private recompute(changedFile?: string): void {
    const before = this.served;
    const taken = new Map<string, ServiceDefinition>();
    const served: string[] = [];
    for (const file of this.rankedFiles()) {
      const services = this.candidates.get(file)?.services ?? [];
      const conflicts = services.flatMap((service) => {
        const owner = taken.get(service.route);
        return owner ? [conflict(service, owner, true)] : [];
      });
      if (conflicts.length > 0) {
        if (before.includes(file) || file === changedFile) {
          this.logger.warn(`${describeRejection(file, conflicts)} (none of its services are served)`);
        }
        continue;
      }
      if (!before.includes(file) && file !== changedFile) {
        this.logger.log(`Manifest ${file} served again: no file before it holds its routes`);
      }
      services.forEach((service) => taken.set(service.route, service));
      served.push(file);
    }
    this.served = served;
    this.servedServices = served.flatMap((file) => this.candidates.get(file)?.services ?? []);
    this.servedByRoute = taken;
    const isSameList =
      before.length === served.length && before.every((file, index) => file === served[index]);
    if (!isSameList || changedFile !== undefined) this.notify();
  }

  private notify(): void {
    const services = this.list();
    this.listeners.forEach((listener) => listener(services));
  }

  private async checkPrompts(services: readonly ServiceDefinition[]): Promise<ManifestProblem[]> {
    const problems: ManifestProblem[] = [];
    for (const service of services) {
      const checks: { field: string; name: string; placeholders: readonly number[] }[] = [
        { field: 'name', name: service.manifest.name, placeholders: [service.manifest.fields] },
        // v1 opened the reduce prompt only when reducing: a missing one elsewhere is harmless.
        ...service.manifest.flavor.flatMap((flavor, index) =>
          flavor.reduceSummary && typeof flavor.reduce_prompt === 'string'
            ? [{ field: `flavor[${index}].reduce_prompt`, name: flavor.reduce_prompt, placeholders: [1, 2] }]
            : [],
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
}

/** `services/en.yaml` → `en`, the name `defaults:` gives it. */
function manifestName(fileLabel: string): string {
  return basename(fileLabel, extname(fileLabel));
}

function conflict(service: ServiceDefinition, owner: ServiceDefinition, isShadowed = false): ManifestProblem {
  const why = isShadowed ? ', which takes precedence (config.yaml defaults: list)' : '';
  return {
    code: 'DUPLICATE_ROUTE',
    serviceKey: service.key,
    field: 'route',
    message: `route "${service.route}" is already served by ${owner.fileLabel} (service "${owner.key}")${why}`,
  };
}
