/** docs/api.md 6.3: every call keeps 15 % of headroom over our own token count. */
export const SAFETY_FACTOR = 1.15;

/**
 * Tokens one batch may hold: `(promptTokens + contextTokens + batchTokens) × 1.15 ≤
 * totalContextLength − maxGenerationLength`. Never negative. Pure.
 */
export function batchTokenBudget(input: {
  totalContextLength: number;
  maxGenerationLength: number;
  promptTokens: number;
  contextTokens: number;
}): number {
  const room = Math.floor((input.totalContextLength - input.maxGenerationLength) / SAFETY_FACTOR);
  return Math.max(0, room - input.promptTokens - input.contextTokens);
}
