import { plainToInstance } from 'class-transformer';
import { type ValidationError, validateSync } from 'class-validator';
import { ConfigError } from '../config/config.error';
import { type EnvironmentVariables, interpolateTree } from '../config/interpolation.util';
import { parseHydraYaml, readYaml11Boolean } from '../config/yaml.util';
import type { ManifestProblem } from './manifest.error';
import { BOOLEAN_FLAVOR_FIELDS, FLAVOR_DEFAULTS, NUMERIC_FLAVOR_FIELDS } from '../jobs/job-payload';
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
 * Parses and validates one manifest file against docs/api.md section 2 (YAML 1.1 as v1 read it,
 * interpolation, schema, routes unique within the file). Prompt files and cross-file route
 * conflicts are checked by the registry. Unknown fields are kept and reported as warnings, as v1
 * ignored them. Node references (`${swagger.description}`) resolve against `configYaml` with
 * this file's services under `services`, as Hydra composed them. Pure: no file access.
 */
export function parseManifestFile(
  text: string,
  env: EnvironmentVariables,
  configYaml: unknown = {},
): ManifestParseResult {
  let document: unknown;
  try {
    document = parseHydraYaml(text);
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
  const configRoot = configYaml !== null && typeof configYaml === 'object' ? configYaml : {};
  const root = { ...configRoot, services: document };
  for (const [key, rawService] of Object.entries(document)) {
    const result = validateService(key, rawService, env, root);
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
  root: unknown,
): { service: ServiceDefinition; warnings: string[] } | { problems: ManifestProblem[] } {
  const problem = (field: string | undefined, message: string): { problems: ManifestProblem[] } => ({
    problems: [{ code: 'INVALID_FIELD', serviceKey: key, field, message }],
  });
  if (rawService === null || typeof rawService !== 'object' || Array.isArray(rawService)) {
    return problem(undefined, 'a service must be a mapping of fields');
  }
  let resolved: Record<string, unknown>;
  try {
    resolved = interpolateTree(rawService, env, `services.${key}`, root) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof ConfigError) return problem(undefined, error.message);
    throw error;
  }

  const manifest = plainToInstance(ServiceManifestClass, withTypedScalars(resolved), {
    exposeDefaultValues: true,
  });
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

  const fallbackProblem = findFallbackProblem(manifest.flavor);
  if (fallbackProblem) return problem(fallbackProblem.field, fallbackProblem.message);

  const route = manifest.route ?? key;
  if (!ROUTE_PATTERN.test(route) || route.includes('..')) {
    return problem(
      manifest.route === undefined ? 'key' : 'route',
      `route "${route}" must match [A-Za-z0-9._/-]+, contain no "..", no empty segment and no leading or trailing /`,
    );
  }

  return {
    service: { key, route, fileLabel: '', manifest, published: publishedManifest(resolved, route) },
    warnings: unknownFieldWarnings(key, resolved),
  };
}

/**
 * A flavor's `fallback` must name another flavor of the same service, and following fallbacks
 * must never come back to a flavor already tried (a cycle would fail over forever). Returns the
 * first faulty field (`flavor[i].fallback`) and why; undefined when every fallback is sound.
 */
function findFallbackProblem(
  flavors: readonly { name: string; fallback?: string | null }[],
): { field: string; message: string } | undefined {
  const indexByName = new Map(flavors.map((flavor, index) => [flavor.name, index]));
  for (const [index, flavor] of flavors.entries()) {
    const field = `flavor[${index}].fallback`;
    const target = flavor.fallback;
    if (target === undefined || target === null) continue;
    if (target === flavor.name) {
      return { field, message: `fallback "${target}" names the flavor itself` };
    }
    if (!indexByName.has(target)) {
      return {
        field,
        message: `fallback "${target}" is not a flavor of this service (flavors: ${[...indexByName.keys()].join(', ')})`,
      };
    }
    const chain = [flavor.name];
    for (let next: string | null | undefined = target; next !== undefined && next !== null;) {
      if (chain.includes(next)) {
        return { field, message: `fallback makes a cycle: ${[...chain, next].join(' -> ')}` };
      }
      chain.push(next);
      const nextIndex = indexByName.get(next);
      next = nextIndex === undefined ? undefined : flavors[nextIndex]?.fallback;
    }
  }
  return undefined;
}

/**
 * v1 files may carry numbers and booleans as strings (`temperature: ${oc.env:TEMP,0.2}` resolves
 * to "0.2"): such strings become the value they spell (decimal notation only; YAML 1.1 boolean
 * words), for validation and for the jobs. Anything else is left for the schema to refuse.
 */
function withTypedScalars(service: Record<string, unknown>): Record<string, unknown> {
  const flavors = Array.isArray(service.flavor)
    ? service.flavor.map((flavor: unknown) => {
        if (flavor === null || typeof flavor !== 'object' || Array.isArray(flavor)) return flavor;
        // `null` for a boolean, as v1's backend_defaults wrote it, means the default.
        const typed: Record<string, unknown> = Object.fromEntries(
          Object.entries(flavor).filter(([field, value]) => !(value === null && isBooleanField(field))),
        );
        for (const field of NUMERIC_FLAVOR_FIELDS) typed[field] = decimalNumber(typed[field]);
        for (const field of BOOLEAN_FLAVOR_FIELDS) {
          const value = typed[field];
          if (typeof value === 'string') typed[field] = readYaml11Boolean(value.trim()) ?? value;
        }
        return typed;
      })
    : service.flavor;
  return { ...service, fields: decimalNumber(service.fields), flavor: flavors };
}

function isBooleanField(field: string): boolean {
  return (BOOLEAN_FLAVOR_FIELDS as readonly string[]).includes(field);
}

const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function decimalNumber(value: unknown): unknown {
  return typeof value === 'string' && DECIMAL.test(value.trim()) ? Number(value.trim()) : value;
}

/**
 * What `GET /services` shows, as v1 showed it: the manifest as written (key order kept, `null`
 * kept, interpolation resolved); the only additions, after the file's own keys, are `route` when
 * absent and the flavor defaults v1's files omit.
 */
function publishedManifest(resolved: Record<string, unknown>, route: string): Record<string, unknown> {
  const flavors = Array.isArray(resolved.flavor)
    ? resolved.flavor.map((flavor: unknown) => {
        if (flavor === null || typeof flavor !== 'object') return flavor;
        const missing = Object.entries(FLAVOR_DEFAULTS).filter(([field]) => !(field in flavor));
        return { ...flavor, ...Object.fromEntries(missing) };
      })
    : resolved.flavor;
  return { ...resolved, flavor: flavors, ...('route' in resolved ? {} : { route }) };
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
