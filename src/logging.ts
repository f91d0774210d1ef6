import { ConsoleLogger, type LogLevel as NestLogLevel } from '@nestjs/common';
import type { AppConfig, LogLevel } from './config/app-config';

const SEVERITY_ORDER: NestLogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];

/** Nest's console logger at LOG_LEVEL and above, as one JSON object per line or human-readable. */
export function createLogger(
  config: Pick<AppConfig, 'serviceName' | 'logLevel' | 'logFormat'>,
): ConsoleLogger {
  const isJson = config.logFormat === 'json';
  return new ConsoleLogger(config.serviceName, {
    logLevels: levelsFrom(config.logLevel),
    json: isJson,
    colors: !isJson && isTerminal(),
    prefix: config.serviceName,
  });
}

/** stdout's `isTTY` is undefined, not false, when it is a pipe or a file. */
function isTerminal(): boolean {
  return 'isTTY' in process.stdout && process.stdout.isTTY;
}

function levelsFrom(minimum: LogLevel): NestLogLevel[] {
  return SEVERITY_ORDER.slice(SEVERITY_ORDER.indexOf(minimum));
}
