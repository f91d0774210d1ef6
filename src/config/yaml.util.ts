import { DEFAULT_SCHEMA, Type, load } from 'js-yaml';

const TRUE_WORDS = new Set(['true', 'True', 'TRUE', 'yes', 'Yes', 'YES', 'on', 'On', 'ON']);
const FALSE_WORDS = new Set(['false', 'False', 'FALSE', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

/**
 * YAML 1.1 booleans as PyYAML (and so Hydra/OmegaConf, which v1 used) reads them: `yes`/`no`
 * and `on`/`off` are booleans, in the same three spellings as `true`/`false`. (`y`/`n` stay
 * strings, as in PyYAML.) js-yaml follows YAML 1.2, where they are strings.
 */
const yaml11Boolean = new Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (data: unknown) => typeof data === 'string' && (TRUE_WORDS.has(data) || FALSE_WORDS.has(data)),
  construct: (data: string) => TRUE_WORDS.has(data),
  predicate: (object: unknown) => typeof object === 'boolean',
  represent: (object: object) => ((object as unknown as boolean) ? 'true' : 'false'),
});

/** js-yaml's default schema with its boolean type replaced by YAML 1.1's (same tag: it wins). */
const HYDRA_SCHEMA = DEFAULT_SCHEMA.extend({ implicit: [yaml11Boolean] });

/**
 * Parses a `.hydra-conf` YAML file (config.yaml or a manifest) the way v1 read it: YAML 1.1
 * booleans included. Throws js-yaml's YAMLException on a syntax error. Pure.
 */
export function parseHydraYaml(text: string): unknown {
  return load(text, { schema: HYDRA_SCHEMA });
}

/** The words that read as a boolean in v1's files, for values that arrive as strings. */
export function readYaml11Boolean(text: string): boolean | undefined {
  if (TRUE_WORDS.has(text)) return true;
  if (FALSE_WORDS.has(text)) return false;
  return undefined;
}
