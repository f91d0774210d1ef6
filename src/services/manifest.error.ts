export type ManifestErrorCode =
  'YAML_SYNTAX' | 'NOT_A_MAPPING' | 'INVALID_FIELD' | 'DUPLICATE_ROUTE' | 'PROMPT_INVALID';

/** One reason a manifest file is rejected, naming the service key and field when known. */
export interface ManifestProblem {
  code: ManifestErrorCode;
  serviceKey?: string;
  field?: string;
  message: string;
}

/** One log line for a rejected file: file, then each problem with its service key and field. */
export function describeRejection(fileLabel: string, problems: readonly ManifestProblem[]): string {
  const reasons = problems.map((problem) => {
    const where = [
      problem.serviceKey === undefined ? undefined : `service "${problem.serviceKey}"`,
      problem.field === undefined ? undefined : `field "${problem.field}"`,
    ].filter(Boolean);
    return where.length > 0 ? `${where.join(', ')}: ${problem.message}` : problem.message;
  });
  return `Manifest ${fileLabel} rejected: ${reasons.join('; ')}`;
}
