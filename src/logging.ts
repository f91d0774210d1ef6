import { ConsoleLogger, type LogLevel as NestLogLevel } from '@nestjs/common';
import type { AppConfig, LogLevel } from './config/app-config';

const SEVERITY_ORDER: NestLogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];

/** Nest's console logger at LOG_LEVEL and above, as one JSON object per line or human-readable. */
export function createLogger(config: Pick<AppConfig, 'serviceName' | 'logLevel' | 'logFormat'>): ConsoleLogger {
  const isJson = config.logFormat === 'json';
  return new ConsoleLogger(config.serviceName, {
    logLevels: levelsFrom(config.logLevel),
    json: isJson,
    colors: !isJson && Boolean(process.stdout.isTTY),
    prefix: config.serviceName,
  });
}

function levelsFrom(minimum: LogLevel): NestLogLevel[] {
  return SEVERITY_ORDER.slice(SEVERITY_ORDER.indexOf(minimum));
}
