export type PromptErrorCode =
  | 'PROMPT_NAME_INVALID'
  | 'PROMPT_OUTSIDE_FOLDER'
  | 'PROMPT_MISSING'
  | 'TEMPLATE_SYNTAX'
  | 'PLACEHOLDER_COUNT';

export class PromptError extends Error {
  constructor(
    message: string,
    readonly code: PromptErrorCode,
  ) {
    super(message);
    this.name = 'PromptError';
  }
}
