import 'reflect-metadata';
import { ConfigError } from './config/config.error';
import { loadAppConfig } from './config/load-app-config';
import { createGateway } from './app.factory';
import { createLogger } from './logging';
import { tuneHttpServer } from './http-server';

async function main(): Promise<void> {
  let config;
  try {
    config = loadAppConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      // One line naming the variable or field, then a non-zero exit: nothing half-started.
      process.stderr.write(`Configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config);
  const startedAt = performance.now();
  const gateway = await createGateway(config, logger);
  gateway.context.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  exitIfStopHangs(logger);
  tuneHttpServer(gateway.http.getHttpServer(), config);
  await gateway.http.listen(config.httpPort, config.host);
  const elapsedMs = Math.round(performance.now() - startedAt);
  if (config.role === 'worker') {
    logger.log(
      `Worker started (role worker), ${config.concurrency} job(s) at once; health on port ${config.httpPort} (started in ${elapsedMs} ms)`,
      'Bootstrap',
    );
  } else {
    const docs = config.swagger.path === '' ? 'Swagger UI off' : `docs at ${config.swagger.path}`;
    logger.log(
      `Gateway (role ${config.role}) listening on port ${config.httpPort} of ${config.host}; ${docs} (started in ${elapsedMs} ms)`,
      'Bootstrap',
    );
  }
}

/**
 * Every part closes within a bound of its own (a worker's hand-back 10 s, a Redis connection 2 s),
 * but a stop must end even when a library waits on a frozen or partitioned Redis: past this
 * deadline the process exits anyway (below every grace period of deploy/: Kubernetes and Swarm).
 */
const STOP_DEADLINE_MS = 25_000;

function exitIfStopHangs(logger: ReturnType<typeof createLogger>): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        logger.error(
          `Stop not finished ${STOP_DEADLINE_MS / 1000} s after ${signal} (Redis unresponsive?): exiting now; running jobs resume elsewhere once their lock expires`,
          'Bootstrap',
        );
        process.exit(1);
      }, STOP_DEADLINE_MS).unref(); // never what keeps a finished process alive
    });
  }
}

main().catch((error: unknown) => {
  const prefix = error instanceof ConfigError ? 'Configuration error' : 'Start-up failed';
  process.stderr.write(`${prefix}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
