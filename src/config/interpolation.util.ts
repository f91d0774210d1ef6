import { ConfigError } from './config.error';

export type EnvironmentVariables = Readonly<Record<string, string | undefined>>;

type ResolvedScalar = string | number | boolean | null;

/**
 * Resolves OmegaConf-style interpolations in every string of a parsed YAML tree:
 * `${oc.env:VAR}`, `${oc.env:VAR,default}` (default may be empty), `${oc.decode:...}`, nested
 * and embedded in longer strings; node references to other keys of `root` (`${swagger.title}`,
 * relative `${.sibling}` / `${..uncle}`, `${oc.select:path,default}`). A string that is exactly
 * one interpolation keeps the resolved type (`oc.decode` yields numbers, booleans and null; a
 * node reference yields the node, mappings included); an embedded one is stringified. `\${` is
 * a literal `${`. `path` is where `value` sits in `root` (relative references start there).
 * Never mutates its input; throws ConfigError naming `path` and, for an unset variable without
 * default, the variable; a missing key or a reference cycle is an error too.
 */
export function interpolateTree(
  value: unknown,
  env: EnvironmentVariables,
  path = '',
  root: unknown = value,
): unknown {
  return new TreeResolver(env, root).resolve(value, path);
}

/** Resolves the interpolations of one string; see interpolateTree. */
export function interpolateString(
  text: string,
  env: EnvironmentVariables,
  path: string,
  root: unknown = {},
): unknown {
  return new TreeResolver(env, root).resolve(text, path);
}

/** Walks a tree, resolving node references on demand (each key at most once per walk). */
class TreeResolver {
  private readonly resolving = new Set<string>();

  constructor(
    private readonly env: EnvironmentVariables,
    private readonly root: unknown,
  ) {}

  resolve(value: unknown, path: string): unknown {
    if (typeof value === 'string') {
      return new InterpolationParser(value, this.env, path, (reference, isOptional) =>
        this.lookup(reference, path, isOptional),
      ).parseWhole();
    }
    if (Array.isArray(value)) {
      return value.map((item, index) => this.resolve(item, `${path}[${index}]`));
    }
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [key, this.resolve(item, path ? `${path}.${key}` : key)]),
      );
    }
    return value;
  }

  /** The resolved node that `reference` names, seen from the value at `fromPath`. */
  private lookup(
    reference: string,
    fromPath: string,
    isOptional: boolean,
  ): { found: boolean; value: unknown } {
    const targetPath = absoluteNodePath(reference, fromPath);
    const location = fromPath ? `field "${fromPath}"` : 'value';
    if (targetPath === undefined) {
      throw new ConfigError(`${location}: invalid node reference "${reference}"`, 'INTERPOLATION_SYNTAX');
    }
    const node = readNode(this.root, targetPath);
    if (!node.found) {
      if (isOptional) return node;
      throw new ConfigError(
        `${location}: interpolation key "${reference}" not found`,
        'INTERPOLATION_SYNTAX',
      );
    }
    const key = targetPath.join('.');
    if (this.resolving.has(key)) {
      throw new ConfigError(`${location}: "${reference}" refers to itself`, 'INTERPOLATION_SYNTAX');
    }
    this.resolving.add(key);
    try {
      return { found: true, value: this.resolve(node.value, key) };
    } finally {
      this.resolving.delete(key);
    }
  }
}

/**
 * Key segments of an OmegaConf node reference: `a.b[0]` from the root, `.b` beside the value at
 * `fromPath`, `..b` one level up, and so on. Undefined when the reference climbs above the root.
 */
function absoluteNodePath(reference: string, fromPath: string): string[] | undefined {
  const dots = /^\.*/.exec(reference)?.[0].length ?? 0;
  const relativeSegments = splitNodePath(reference.slice(dots));
  if (dots === 0) return relativeSegments;
  const container = splitNodePath(fromPath).slice(0, -1);
  const levelsUp = dots - 1;
  if (levelsUp > container.length) return undefined;
  return [...container.slice(0, container.length - levelsUp), ...relativeSegments];
}

function splitNodePath(path: string): string[] {
  return path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter((segment) => segment !== '');
}

function readNode(root: unknown, segments: readonly string[]): { found: boolean; value: unknown } {
  let node: unknown = root;
  for (const segment of segments) {
    if (Array.isArray(node) && /^\d+$/.test(segment) && Number(segment) < node.length) {
      node = node[Number(segment)];
    } else if (
      node !== null &&
      typeof node === 'object' &&
      !Array.isArray(node) &&
      Object.hasOwn(node, segment)
    ) {
      node = (node as Record<string, unknown>)[segment];
    } else {
      return { found: false, value: undefined };
    }
  }
  return { found: true, value: node };
}

type NodeLookup = (reference: string, isOptional: boolean) => { found: boolean; value: unknown };

/**
 * OmegaConf's `oc.decode`: a string that reads as an integer, float, boolean or null becomes
 * that value; anything else stays a string. Surrounding quotes are removed.
 */
export function decodeScalar(raw: string | null): ResolvedScalar {
  if (raw === null) return null;
  const text = raw.trim();
  if (/^[-+]?\d+$/.test(text)) return Number.parseInt(text, 10);
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+)(e[-+]?\d+)?$/i.test(text)) return Number.parseFloat(text);
  if (/^true$/i.test(text)) return true;
  if (/^false$/i.test(text)) return false;
  if (/^null$/i.test(text)) return null;
  return unquote(text);
}

function unquote(text: string): string {
  const quoted = /^'(.*)'$|^"(.*)"$/s.exec(text);
  return quoted ? (quoted[1] ?? quoted[2] ?? '') : text;
}

class InterpolationParser {
  private position = 0;

  constructor(
    private readonly text: string,
    private readonly env: EnvironmentVariables,
    private readonly path: string,
    private readonly lookup: NodeLookup,
  ) {}

  parseWhole(): unknown {
    const pieces = this.parseSequence(new Set());
    if (this.position < this.text.length) {
      this.fail(`unexpected "${this.text[this.position]}"`);
    }
    if (pieces.length === 1 && pieces[0]?.isInterpolation) {
      return pieces[0].value;
    }
    return pieces.map((piece) => stringify(piece.value)).join('');
  }

  /** Reads literal text and interpolations until one of `stopCharacters` (not consumed). */
  private parseSequence(stopCharacters: Set<string>): Piece[] {
    const pieces: Piece[] = [];
    let literal = '';
    while (this.position < this.text.length) {
      const character = this.text[this.position] ?? '';
      if (stopCharacters.has(character)) break;
      const isQuoteInsideArguments = stopCharacters.size > 0 && (character === "'" || character === '"');
      const closingQuote = isQuoteInsideArguments ? this.text.indexOf(character, this.position + 1) : -1;
      if (closingQuote !== -1) {
        literal += this.text.slice(this.position, closingQuote + 1);
        this.position = closingQuote + 1;
        continue;
      }
      if (this.text.startsWith('\\${', this.position)) {
        literal += '${';
        this.position += 3;
        continue;
      }
      if (this.text.startsWith('${', this.position)) {
        if (literal) pieces.push({ isInterpolation: false, value: literal });
        literal = '';
        pieces.push({ isInterpolation: true, value: this.parseInterpolation() });
        continue;
      }
      literal += character;
      this.position += 1;
    }
    if (literal) pieces.push({ isInterpolation: false, value: literal });
    return pieces;
  }

  private parseInterpolation(): unknown {
    const start = this.position;
    this.position += 2; // "${"
    const colon = this.text.indexOf(':', this.position);
    const closing = this.text.indexOf('}', this.position);
    if (closing !== -1 && (colon === -1 || closing < colon)) {
      // No resolver: a reference to another node, `${swagger.title}` or `${.sibling}`.
      const reference = this.text.slice(this.position, closing).trim();
      if (!NODE_REFERENCE.test(reference)) {
        this.fail(`unsupported interpolation "${this.text.slice(start, closing + 1)}"`);
      }
      this.position = closing + 1;
      return this.lookup(reference, false).value;
    }
    if (colon === -1) {
      this.fail(`unterminated interpolation starting at "${this.text.slice(start, start + 30)}"`);
    }
    const resolver = this.text.slice(this.position, colon).trim();
    this.position = colon + 1;
    const args = this.parseArguments();
    if (this.text[this.position] !== '}') {
      this.fail(`unterminated interpolation starting at "${this.text.slice(start, start + 30)}"`);
    }
    this.position += 1;
    switch (resolver) {
      case 'oc.env':
        return this.resolveEnv(args);
      case 'oc.decode':
        if (args.length !== 1) this.fail('oc.decode takes exactly one argument');
        return decodeScalar(args[0] ?? null);
      case 'oc.select':
        return this.resolveSelect(args);
      default:
        return this.fail(`unknown resolver "${resolver}" (supported: oc.env, oc.decode, oc.select)`);
    }
  }

  /** Comma-separated arguments up to the closing brace; each argument may nest interpolations. */
  private parseArguments(): (string | null)[] {
    const args: (string | null)[] = [];
    for (;;) {
      const pieces = this.parseSequence(new Set([',', '}']));
      const isSingleNull =
        pieces.length === 1 && pieces[0]?.isInterpolation === true && pieces[0].value === null;
      args.push(
        isSingleNull
          ? null
          : unquote(
              pieces
                .map((p) => stringify(p.value))
                .join('')
                .trim(),
            ),
      );
      if (this.text[this.position] !== ',') return args;
      this.position += 1;
    }
  }

  private resolveEnv(args: (string | null)[]): string | null {
    const [name, ...defaultParts] = args;
    if (!name) this.fail('oc.env needs a variable name');
    const value = this.env[name];
    if (value !== undefined) return value;
    if (defaultParts.length === 0) {
      throw new ConfigError(
        `${this.location()}: environment variable ${name} is not set and has no default`,
        'MISSING_VARIABLE',
      );
    }
    // OmegaConf's grammar would reject extra commas; joining them back is the forgiving reading.
    if (defaultParts.length === 1 && defaultParts[0] === null) return null;
    const defaultText = defaultParts.map((part) => part ?? '').join(',');
    return /^null$/i.test(defaultText) ? null : defaultText;
  }

  /** `${oc.select:key,default}`: the node at `key`, or the default (null when none) if missing. */
  private resolveSelect(args: (string | null)[]): unknown {
    const [reference, ...defaultParts] = args;
    if (!reference || !NODE_REFERENCE.test(reference)) this.fail('oc.select needs a key');
    const node = this.lookup(reference, true);
    if (node.found) return node.value;
    if (defaultParts.length === 0 || (defaultParts.length === 1 && defaultParts[0] === null)) return null;
    const defaultText = defaultParts.map((part) => part ?? '').join(',');
    return /^null$/i.test(defaultText) ? null : defaultText;
  }

  private location(): string {
    return this.path ? `field "${this.path}"` : 'value';
  }

  private fail(reason: string): never {
    throw new ConfigError(`${this.location()}: ${reason}`, 'INTERPOLATION_SYNTAX');
  }
}

interface Piece {
  isInterpolation: boolean;
  value: unknown;
}

/** A key path as OmegaConf writes one: dotted keys, list indices, leading dots for relative. */
const NODE_REFERENCE = /^\.*[A-Za-z0-9_-]+(\[\d+\])*(\.[A-Za-z0-9_-]+(\[\d+\])*)*$/;

function stringify(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
