import { ConsoleLogger, type LogLevel as NestLogLevel } from '@nestjs/common';
import type { AppConfig, LogLevel } from './config/app-config';

const SEVERITY_ORDER: NestLogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];

/**
 * Nest's console logger at LOG_LEVEL and above, as one JSON object per line (LOG_FORMAT=json) or
 * human-readable (pretty). A line may carry fields: `logger.log({ message, jobId, service })`
 * writes them as top-level JSON keys (`{"level":"log","message":"Job … completed","jobId":…}`),
 * and as `key=value` pairs after the message in pretty mode.
 */
export function createLogger(
  config: Pick<AppConfig, 'serviceName' | 'logLevel' | 'logFormat'>,
): ConsoleLogger {
  const isJson = config.logFormat === 'json';
  return new GatewayLogger(config.serviceName, {
    logLevels: levelsFrom(config.logLevel),
    json: isJson,
    colors: !isJson && isTerminal(),
    prefix: config.serviceName,
  });
}

/** A log line with fields: a `message` string and flat values (ids, names, numbers). */
type StructuredLine = { message: string } & Record<string, unknown>;

class GatewayLogger extends ConsoleLogger {
  protected override getJsonLogObject(
    message: unknown,
    options: Parameters<ConsoleLogger['getJsonLogObject']>[1],
  ): ReturnType<ConsoleLogger['getJsonLogObject']> {
    const logObject = super.getJsonLogObject(message, options);
    return isStructured(message) ? { ...message, ...logObject, message: message.message } : logObject;
  }

  protected override stringifyMessage(message: unknown, logLevel: NestLogLevel): string {
    if (!isStructured(message)) return String(super.stringifyMessage(message, logLevel));
    const fields = Object.entries(message)
      .filter(([key, value]) => key !== 'message' && value !== undefined)
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
    return String(super.stringifyMessage(`${message.message} (${fields.join(' ')})`, logLevel));
  }
}

function isStructured(message: unknown): message is StructuredLine {
  return (
    typeof message === 'object' &&
    message !== null &&
    !Array.isArray(message) &&
    typeof (message as { message?: unknown }).message === 'string'
  );
}

/** stdout's `isTTY` is undefined, not false, when it is a pipe or a file. */
function isTerminal(): boolean {
  return 'isTTY' in process.stdout && process.stdout.isTTY;
}

function levelsFrom(minimum: LogLevel): NestLogLevel[] {
  return SEVERITY_ORDER.slice(SEVERITY_ORDER.indexOf(minimum));
}
