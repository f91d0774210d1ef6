export type ConfigErrorCode =
  | 'INVALID_VARIABLE'
  | 'MISSING_VARIABLE'
  | 'INTERPOLATION_SYNTAX'
  | 'CONFIG_FILE_UNREADABLE'
  | 'INVALID_CONFIG_FIELD';

/** A start-up configuration problem; its message is one line naming the variable, file or field. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly code: ConfigErrorCode,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}
