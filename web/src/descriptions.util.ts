/**
 * The text of a service's `description` for the reader's language: a map of language to text
 * (`{en: ..., fr: ...}`) gives the entry of `language` (`fr-CA`, then `fr`), else `en`, else the
 * first entry; a plain text (v1 files) is returned as it is; no description gives ''.
 */
export function describeIn(
  description: string | Record<string, string> | null | undefined,
  language: string,
): string {
  if (typeof description === 'string') return description;
  if (description === null || description === undefined) return '';
  const entries = Object.entries(description);
  const lookup = (wanted: string) => entries.find(([key]) => key.toLowerCase() === wanted.toLowerCase())?.[1];
  const primary = language.split(/[-_]/)[0] ?? '';
  return lookup(language) ?? lookup(primary) ?? lookup('en') ?? entries[0]?.[1] ?? '';
}
