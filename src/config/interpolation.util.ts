import { ConfigError } from './config.error';

export type EnvironmentVariables = Readonly<Record<string, string | undefined>>;

type ResolvedScalar = string | number | boolean | null;

/**
 * Resolves OmegaConf-style interpolations in every string of a parsed YAML tree:
 * `${oc.env:VAR}`, `${oc.env:VAR,default}` (default may be empty), `${oc.decode:...}`, nested
 * and embedded in longer strings. A string that is exactly one interpolation keeps the resolved
 * type (`oc.decode` yields numbers, booleans and null); an embedded one is stringified.
 * `\${` is a literal `${`. Never mutates its input; throws ConfigError naming `path` and, for an
 * unset variable without default, the variable.
 */
export function interpolateTree(value: unknown, env: EnvironmentVariables, path = ''): unknown {
  if (typeof value === 'string') {
    return interpolateString(value, env, path);
  }
  if (Array.isArray(value)) {
    return value.map((item, index) => interpolateTree(item, env, `${path}[${index}]`));
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        interpolateTree(item, env, path ? `${path}.${key}` : key),
      ]),
    );
  }
  return value;
}

/** Resolves the interpolations of one string; see interpolateTree. */
export function interpolateString(text: string, env: EnvironmentVariables, path: string): ResolvedScalar {
  const parser = new InterpolationParser(text, env, path);
  return parser.parseWhole();
}

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
  ) {}

  parseWhole(): ResolvedScalar {
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

  private parseInterpolation(): ResolvedScalar {
    const start = this.position;
    this.position += 2; // "${"
    const colon = this.text.indexOf(':', this.position);
    const closing = this.text.indexOf('}', this.position);
    if (colon === -1 || (closing !== -1 && closing < colon)) {
      const end = closing === -1 ? this.text.length : closing + 1;
      this.fail(`unsupported interpolation "${this.text.slice(start, end)}"`);
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
      default:
        return this.fail(`unknown resolver "${resolver}" (supported: oc.env, oc.decode)`);
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

  private location(): string {
    return this.path ? `field "${this.path}"` : 'value';
  }

  private fail(reason: string): never {
    throw new ConfigError(`${this.location()}: ${reason}`, 'INTERPOLATION_SYNTAX');
  }
}

interface Piece {
  isInterpolation: boolean;
  value: ResolvedScalar;
}

function stringify(value: ResolvedScalar): string {
  return value === null ? 'null' : String(value);
}
