import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { parse as parseDotenv } from 'dotenv';
import type { AppConfig } from './app-config';
import { ConfigError } from './config.error';
import type { EnvironmentVariables } from './interpolation.util';
import { parseAppConfig } from './parse-app-config.util';
import { parseHydraYaml } from './yaml.util';

/**
 * Reads `.env` (the process environment wins over it) and `<CONFIG_PATH>/config.yaml`, then
 * parses and validates the configuration. The only place that touches `process.env`'s values.
 */
export function loadAppConfig(
  processEnv: EnvironmentVariables = process.env,
  cwd: string = process.cwd(),
): AppConfig {
  const env = { ...readDotenv(cwd), ...processEnv };
  const configDirectory = resolve(cwd, env.CONFIG_PATH || '.hydra-conf');
  const configFile = join(configDirectory, 'config.yaml');
  const configFileLabel = relative(cwd, configFile) || configFile;
  return parseAppConfig({
    env,
    cwd,
    configYaml: readConfigYaml(configFile, configFileLabel),
    configFileLabel,
    configFile,
    version: readOwnVersion(),
    heapLimitBytes: getHeapStatistics().heap_size_limit,
  });
}

/** package.json sits two levels up from both src/config/ and dist/config/. */
function readOwnVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof manifest.version === 'string' ? manifest.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function readDotenv(cwd: string): Record<string, string> {
  const dotenvFile = join(cwd, '.env');
  return existsSync(dotenvFile) ? parseDotenv(readFileSync(dotenvFile)) : {};
}

/** `config.yaml` parsed as v1 read it (YAML 1.1 booleans); undefined when there is none. */
export function readConfigYaml(file: string, label: string): unknown {
  if (!existsSync(file)) return undefined;
  try {
    return parseHydraYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ConfigError(`${label}: cannot be read: ${reason}`, 'CONFIG_FILE_UNREADABLE');
  }
}
