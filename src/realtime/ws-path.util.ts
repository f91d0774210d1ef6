/**
 * Matches a URL path against a pattern whose `:name` segments match one non-empty segment, e.g.
 * `/ws/results/:id` against `/ws/results/4f1c`. Returns the named segments (URL-decoded), or
 * undefined when the path does not match. Trailing slashes are ignored. Pure.
 */
export function matchWsPath(pattern: string, pathname: string): Record<string, string> | undefined {
  const patternSegments = segments(pattern);
  const pathSegments = segments(pathname);
  if (patternSegments.length !== pathSegments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, expected] of patternSegments.entries()) {
    const actual = pathSegments[index] ?? '';
    if (expected.startsWith(':')) {
      const value = safeDecode(actual);
      if (value === undefined || value === '') return undefined;
      params[expected.slice(1)] = value;
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}

function segments(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
