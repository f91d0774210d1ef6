import { instanceToPlain, plainToInstance } from 'class-transformer';
import { type ValidationError, validateSync } from 'class-validator';
import { load as parseYaml } from 'js-yaml';
import { ConfigError } from '../config/config.error';
import { type EnvironmentVariables, interpolateTree } from '../config/interpolation.util';
import type { ManifestProblem } from './manifest.error';
import {
  KNOWN_FLAVOR_FIELDS,
  KNOWN_SERVICE_FIELDS,
  ROUTE_PATTERN,
  type ServiceManifest,
  ServiceManifest as ServiceManifestClass,
} from './manifest.schema';

/** A validated service: its manifest with defaults filled, and where it came from. */
export interface ServiceDefinition {
  /** The YAML key, e.g. `summarize/en` or v1's `en`. */
  key: string;
  /** `route` when the manifest has one, else the key. */
  route: string;
  /** The manifest file, relative to the config folder, for messages. */
  fileLabel: string;
  manifest: ServiceManifest;
  /** What `GET /services` and `services_config` show: the manifest as loaded, route included. */
  published: Record<string, unknown>;
}

export type ManifestParseResult =
  | { isValid: true; services: ServiceDefinition[]; warnings: string[] }
  | { isValid: false; problems: ManifestProblem[] };

/**
 * Parses and validates one manifest file against SPEC.md section 2 (YAML, schema, routes unique
 * within the file). Prompt files and cross-file route conflicts are checked by the registry.
 * Unknown fields are kept and reported as warnings, as v1 ignored them. Pure: no file access.
 */
export function parseManifestFile(text: string, env: EnvironmentVariables): ManifestParseResult {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return invalid({ code: 'YAML_SYNTAX', message: `invalid YAML: ${reason}` });
  }
  if (document === undefined || document === null) {
    return { isValid: true, services: [], warnings: [] };
  }
  if (typeof document !== 'object' || Array.isArray(document)) {
    return invalid({
      code: 'NOT_A_MAPPING',
      message: 'the file must map service keys to services (e.g. "summarize/en: {...}")',
    });
  }

  const problems: ManifestProblem[] = [];
  const warnings: string[] = [];
  const services: ServiceDefinition[] = [];
  for (const [key, rawService] of Object.entries(document)) {
    const result = validateService(key, rawService, env);
    if ('problems' in result) {
      problems.push(...result.problems);
      continue;
    }
    warnings.push(...result.warnings);
    const clash = services.find((service) => service.route === result.service.route);
    if (clash) {
      problems.push({
        code: 'DUPLICATE_ROUTE',
        serviceKey: key,
        field: 'route',
        message: `route "${result.service.route}" is already used by service "${clash.key}" of this file`,
      });
      continue;
    }
    services.push(result.service);
  }
  return problems.length > 0 ? { isValid: false, problems } : { isValid: true, services, warnings };
}

function validateService(
  key: string,
  rawService: unknown,
  env: EnvironmentVariables,
): { service: ServiceDefinition; warnings: string[] } | { problems: ManifestProblem[] } {
  const problem = (field: string | undefined, message: string): { problems: ManifestProblem[] } => ({
    problems: [{ code: 'INVALID_FIELD', serviceKey: key, field, message }],
  });
  if (rawService === null || typeof rawService !== 'object' || Array.isArray(rawService)) {
    return problem(undefined, 'a service must be a mapping of fields');
  }
  let resolved: Record<string, unknown>;
  try {
    resolved = interpolateTree(rawService, env) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof ConfigError) return problem(undefined, error.message);
    throw error;
  }

  const manifest = plainToInstance(ServiceManifestClass, resolved, { exposeDefaultValues: true });
  const errors = validateSync(manifest, { forbidUnknownValues: false });
  if (errors.length > 0) {
    return {
      problems: flattenValidationErrors(errors).map(({ field, message }) => ({
        code: 'INVALID_FIELD' as const,
        serviceKey: key,
        field,
        message,
      })),
    };
  }

  const route = manifest.route ?? key;
  if (!ROUTE_PATTERN.test(route) || route.includes('..')) {
    return problem(
      manifest.route === undefined ? 'key' : 'route',
      `route "${route}" must match [A-Za-z0-9._/-]+, contain no "..", no empty segment and no leading or trailing /`,
    );
  }

  const published = { ...instanceToPlain(manifest), route };
  return {
    service: { key, route, fileLabel: '', manifest, published },
    warnings: unknownFieldWarnings(key, resolved),
  };
}

function unknownFieldWarnings(key: string, service: Record<string, unknown>): string[] {
  const warnings = Object.keys(service)
    .filter((field) => !KNOWN_SERVICE_FIELDS.has(field))
    .map((field) => `service "${key}": unknown field "${field}" is ignored`);
  const flavors = Array.isArray(service.flavor) ? (service.flavor as unknown[]) : [];
  flavors.forEach((flavor, index) => {
    if (flavor === null || typeof flavor !== 'object') return;
    for (const field of Object.keys(flavor)) {
      if (!KNOWN_FLAVOR_FIELDS.has(field)) {
        warnings.push(`service "${key}": unknown field "flavor[${index}].${field}" is ignored`);
      }
    }
  });
  return warnings;
}

/** class-validator's error tree as `field path: message` pairs, e.g. `flavor[1].top_p`. */
function flattenValidationErrors(
  errors: readonly ValidationError[],
  parentPath = '',
): { field: string; message: string }[] {
  return errors.flatMap((error) => {
    const isIndex = /^\d+$/.test(error.property);
    const path = isIndex
      ? `${parentPath}[${error.property}]`
      : parentPath
        ? `${parentPath}.${error.property}`
        : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({
      field: path,
      message: error.value === undefined && !isIndex ? `${error.property} is required` : message,
    }));
    const unique = own.filter(
      (entry, index) => own.findIndex((other) => other.message === entry.message) === index,
    );
    return [...unique, ...flattenValidationErrors(error.children ?? [], path)];
  });
}

function invalid(problem: ManifestProblem): ManifestParseResult {
  return { isValid: false, problems: [problem] };
}
