/** What picks a flavor's vocabulary (docs/api.md 6.1). */
export interface FlavorVocabulary {
  tokenizerClass: string;
  modelName: string;
}

/**
 * The `tokenizerClass` and `modelName` of every flavor of a published services list (the
 * manifests as `GET /services` and `services_config` show them). Anything that is not such a
 * list, a service without a flavor list, or a flavor without both fields as strings, is skipped:
 * this only warms caches, it never rejects. Pure.
 */
export function publishedFlavorVocabularies(published: unknown): FlavorVocabulary[] {
  if (!Array.isArray(published)) return [];
  return published.flatMap((service: unknown) => {
    const flavors = isRecord(service) && Array.isArray(service.flavor) ? (service.flavor as unknown[]) : [];
    return flavors.flatMap((flavor) =>
      isRecord(flavor) && typeof flavor.tokenizerClass === 'string' && typeof flavor.modelName === 'string'
        ? [{ tokenizerClass: flavor.tokenizerClass, modelName: flavor.modelName }]
        : [],
    );
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
