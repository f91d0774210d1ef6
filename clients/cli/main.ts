#!/usr/bin/env node
// `llm-gateway`: the command-line client of the gateway, built on the TypeScript SDK.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import WebSocket from 'ws';
import {
  createGatewayClient,
  type GatewayClient,
  GatewayHttpError,
  GatewayUnreachableError,
  isFinal,
  type JobMessage,
} from '../typescript/src';
import { CliError, EXIT_CODES_HELP, ExitCode } from './exit-codes';
import { describeService, describeState, ProgressDisplay, table, userLanguage } from './output';

interface GlobalOptions {
  url: string;
  apiKey?: string;
  json?: boolean;
}

interface Context {
  client: GatewayClient;
  url: string;
  isJson: boolean;
}

interface FollowSettings {
  output?: string;
  isProgressForced: boolean;
  /** `watch --json`: every state as one JSON line, not only the last. */
  isEveryStatePrinted: boolean;
}

const DEFAULT_URL = 'http://localhost:8000';

function buildProgram(
  run: (action: (context: Context) => Promise<number>, command: Command) => Promise<void>,
) {
  const program = new Command('llm-gateway')
    .description('Run and follow LLM Gateway jobs: list services, summarize a file, watch or cancel a job.')
    .version(packageVersion())
    .addOption(new Option('--url <url>', 'the gateway').env('LLM_GATEWAY_URL').default(DEFAULT_URL))
    .addOption(new Option('--api-key <key>', 'one of the API_KEYS of the gateway').env('LLM_GATEWAY_API_KEY'))
    .option('--json', 'machine-readable output on stdout (JSON)')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(run llm-gateway --help for usage)')
    .exitOverride();

  program
    .command('services')
    .description('list the services and their flavors')
    .action((_options: object, command: Command) => run((context) => listServices(context), command));

  program
    .command('summarize')
    .description(
      'submit a text file (- for stdin) to a service; with --follow, show its progress and print the summary',
    )
    .argument('<file>', 'the text to process, UTF-8 (- reads stdin)')
    .requiredOption(
      '-s, --service <route>',
      'the service route, e.g. summarize/en (see `llm-gateway services`)',
    )
    .option('-f, --flavor <name>', "the flavor (default: the service's first)")
    .addOption(
      new Option('--temperature <number>', "override the flavor's temperature (0 to 2)").argParser(number),
    )
    .addOption(new Option('--top-p <number>', "override the flavor's top_p (0 < p <= 1)").argParser(number))
    .option('--follow', 'follow the job with a progress bar and print the summary')
    .option('-o, --output <file>', 'write the summary to this file (implies --follow)')
    .option('--progress', 'draw the progress bar even when stderr is not a terminal')
    .action((file: string, options: SummarizeOptions, command: Command) =>
      run((context) => summarize(context, file, options), command),
    );

  program
    .command('status')
    .description("print a job's state (the summary once complete)")
    .argument('<id>', 'the job id')
    .action((id: string, _options: object, command: Command) =>
      run((context) => status(context, id), command),
    );

  program
    .command('watch')
    .description('follow a job with a progress bar, then print the summary')
    .argument('<id>', 'the job id')
    .option('-o, --output <file>', 'write the summary to this file')
    .option('--progress', 'draw the progress bar even when stderr is not a terminal')
    .action((id: string, options: { output?: string; progress?: boolean }, command: Command) =>
      run(
        (context) =>
          follow(context, id, {
            output: options.output,
            isProgressForced: options.progress ?? false,
            isEveryStatePrinted: true,
          }),
        command,
      ),
    );

  program
    .command('cancel')
    .description('cancel a queued or running job, or delete a finished one')
    .argument('<id>', 'the job id')
    .action((id: string, _options: object, command: Command) =>
      run((context) => cancel(context, id), command),
    );

  return program;
}

async function listServices(context: Context): Promise<number> {
  const services = await context.client.listServices();
  if (context.isJson) {
    printJson(services);
    return ExitCode.ok;
  }
  if (services.length === 0) {
    process.stderr.write(`The gateway at ${context.url} has no services loaded.\n`);
    return ExitCode.ok;
  }
  const language = userLanguage();
  const rows = services.map((service) => [
    service.route,
    service.flavor.map((flavor) => flavor.name).join(', '),
    describeService(service, language),
  ]);
  process.stdout.write(`${table(['SERVICE', 'FLAVORS', 'DESCRIPTION'], rows)}\n`);
  return ExitCode.ok;
}

/** The options of `summarize`, as commander parses them. */
interface SummarizeOptions {
  service: string;
  flavor?: string;
  temperature?: number;
  topP?: number;
  follow?: boolean;
  output?: string;
  progress?: boolean;
}

async function summarize(context: Context, file: string, options: SummarizeOptions): Promise<number> {
  const services = await context.client.listServices();
  const service = services.find((candidate) => candidate.route === options.service);
  if (!service) {
    throw new CliError(
      services.length === 0
        ? `Unknown service "${options.service}": the gateway at ${context.url} has no services loaded`
        : `Unknown service "${options.service}". Services: ${services.map((known) => known.route).join(', ')}`,
      ExitCode.usage,
    );
  }
  const flavors = service.flavor.map((flavor) => flavor.name);
  const flavor = options.flavor ?? flavors[0] ?? '';
  if (!flavors.includes(flavor)) {
    throw new CliError(
      `Unknown flavor "${flavor}" for ${service.route}. Flavors: ${flavors.join(', ')}`,
      ExitCode.usage,
    );
  }
  const text = await readInput(file);
  const queued = await context.client.submit({
    route: service.route,
    flavor,
    file: new Blob([text]),
    temperature: options.temperature,
    top_p: options.topP,
  });
  if (!options.follow && options.output === undefined) {
    if (context.isJson) printJson(queued);
    else process.stdout.write(`${queued.jobId}\n`);
    return ExitCode.ok;
  }
  if (!context.isJson) {
    process.stderr.write(`Job ${queued.jobId} (${service.route}, flavor ${flavor})\n`);
  }
  return follow(context, queued.jobId, {
    output: options.output,
    isProgressForced: options.progress ?? false,
    isEveryStatePrinted: false,
  });
}

async function follow(context: Context, jobId: string, settings: FollowSettings): Promise<number> {
  const interruption = new AbortController();
  const onInterrupt = () => interruption.abort();
  process.once('SIGINT', onInterrupt);
  const display =
    !context.isJson && (process.stderr.isTTY || settings.isProgressForced)
      ? new ProgressDisplay({ force: settings.isProgressForced })
      : undefined;
  let last: JobMessage | undefined;
  try {
    for await (const state of context.client.followJob(jobId, { signal: interruption.signal })) {
      last = state;
      display?.update(state);
      if (context.isJson && settings.isEveryStatePrinted) printJson({ jobId, ...state });
    }
  } finally {
    display?.stop();
    process.removeListener('SIGINT', onInterrupt);
  }
  if (!last || !isFinal(last)) {
    process.stderr.write(
      `Stopped following job ${jobId}; it keeps running (llm-gateway watch ${jobId}, or cancel ${jobId}).\n`,
    );
    return ExitCode.interrupted;
  }
  if (context.isJson && !settings.isEveryStatePrinted) printJson({ jobId, ...last });
  switch (last.status) {
    case 'complete':
      if (settings.output !== undefined) {
        await writeOutput(settings.output, `${last.summarization}\n`);
        if (!context.isJson) process.stderr.write(`Summary written to ${settings.output}\n`);
      } else if (!context.isJson) {
        process.stdout.write(`${last.summarization}\n`);
      }
      return ExitCode.ok;
    case 'error':
      process.stderr.write(`Job ${jobId} failed: ${last.details}\n`);
      return ExitCode.jobFailed;
    case 'unknown':
      process.stderr.write(`No job ${jobId} (never existed, or expired).\n`);
      return ExitCode.unknownJob;
    default: {
      const unhandled: never = last;
      throw new Error(`unexpected final state ${JSON.stringify(unhandled)}`);
    }
  }
}

async function status(context: Context, jobId: string): Promise<number> {
  const state = await context.client.getResult(jobId);
  if (context.isJson) printJson({ jobId, ...state });
  else {
    process.stdout.write(`${describeState(state)}\n`);
    if (state.status === 'complete') process.stdout.write(`${state.summarization}\n`);
  }
  if (state.status === 'error') return ExitCode.jobFailed;
  return state.status === 'unknown' ? ExitCode.unknownJob : ExitCode.ok;
}

async function cancel(context: Context, jobId: string): Promise<number> {
  try {
    const result = await context.client.cancel(jobId);
    if (context.isJson) printJson({ jobId, ...result });
    else process.stdout.write(`${result.status}\n`);
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof GatewayHttpError && error.status === 404) {
      throw new CliError(`No job ${jobId} (never existed, or expired)`, ExitCode.unknownJob);
    }
    throw error;
  }
}

async function readInput(file: string): Promise<Uint8Array<ArrayBuffer>> {
  try {
    if (file === '-') {
      const chunks: Uint8Array[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
      return new Uint8Array(Buffer.concat(chunks));
    }
    return new Uint8Array(await readFile(file));
  } catch (error) {
    throw new CliError(`Cannot read ${file}: ${(error as Error).message}`, ExitCode.usage);
  }
}

async function writeOutput(file: string, text: string): Promise<void> {
  try {
    await writeFile(file, text);
  } catch (error) {
    throw new CliError(`Cannot write ${file}: ${(error as Error).message}`, ExitCode.usage);
  }
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function number(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError('Not a number.');
  return parsed;
}

/** The version of the package this CLI was installed from (found upwards: it runs from dist/ or a clone). */
function packageVersion(): string {
  for (let folder = __dirname; folder !== dirname(folder); folder = dirname(folder)) {
    const file = join(folder, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'llm-gateway') return manifest.version ?? '0.0.0';
    }
  }
  return '0.0.0';
}

/** Turns what went wrong into one line on stderr and an exit code. */
function report(error: unknown, url: string): number {
  if (error instanceof CliError) {
    process.stderr.write(`llm-gateway: ${error.message}\n`);
    return error.code;
  }
  if (error instanceof GatewayUnreachableError) {
    process.stderr.write(
      `llm-gateway: ${error.message}. Is the gateway running? Set --url or LLM_GATEWAY_URL (now ${url}).\n`,
    );
    return ExitCode.unreachable;
  }
  if (error instanceof GatewayHttpError) {
    const hint =
      error.status === 401 ? ': the gateway needs an API key (--api-key or LLM_GATEWAY_API_KEY)' : '';
    process.stderr.write(`llm-gateway: the gateway answered ${error.status} ${error.detail}${hint}\n`);
    return ExitCode.refused;
  }
  process.stderr.write(`llm-gateway: ${error instanceof Error ? error.message : String(error)}\n`);
  return ExitCode.refused;
}

async function main(argv: readonly string[]): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(async (action, command) => {
    const options = command.optsWithGlobals<GlobalOptions>();
    const client = createGatewayClient({
      baseUrl: options.url,
      ...(options.apiKey ? { apiKey: options.apiKey } : {}),
      WebSocket,
    });
    try {
      exitCode = await action({ client, url: options.url, isJson: options.json ?? false });
    } catch (error) {
      exitCode = report(error, options.url);
    }
  });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are answers; anything else commander refused is a usage error.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    throw error;
  }
  return exitCode;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`llm-gateway: ${String(error)}\n`);
    process.exitCode = ExitCode.refused;
  },
);
