import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitTurns, turnLine } from '../../src/chunking/turns.util';
import { splitLongTurns } from '../../src/chunking/virtual-turns.util';
import type { FlavorParameters, JobUsage } from '../../src/jobs/job-payload';
import { TokenizersService } from '../../src/tokenizers/tokenizers.service';
import { REPOSITORY_ROOT, startTestGateway, type TestGateway, waitFor } from './gateway';
import { type LlmSimulator, simulatedAnswer } from './llm-simulator';

export const TRANSCRIPTS = ['ES2004a.txt', 'education_4.txt', 'Bmr006.txt'] as const;

export function readTranscript(name: string): string {
  return readFileSync(join(REPOSITORY_ROOT, 'test', 'fixtures', 'transcripts', name), 'utf8');
}

/** A small-context flavor on the simulator's `small-model` (4,096 tokens, cl100k_base). */
export const SMALL_FLAVOR = {
  name: 'small',
  modelName: 'small-model',
  totalContextLength: 4096,
  maxGenerationLength: 512,
  tokenizerClass: 'cl100k_base',
  createNewTurnAfter: 120,
  summaryTurns: 3,
  maxNewTurns: 9,
  temperature: 0.2,
  top_p: 0.7,
};

/** SMALL_FLAVOR as a job carries it (manifest defaults filled in), with `overrides`: for unit specs. */
export function testFlavor(overrides: Partial<FlavorParameters> = {}): FlavorParameters {
  return {
    ...SMALL_FLAVOR,
    reduceSummary: false,
    consolidateSummary: false,
    type: 'abstractive',
    ...overrides,
  };
}

/**
 * Writes prompts and a manifest with one progressive (`test/progressive`) and one map
 * (`test/map`) service on SMALL_FLAVOR, and waits until the gateway serves them. A gateway in
 * another process has no `logger` here: a failure then says less.
 */
export async function installTestServices(
  gateway: Pick<TestGateway, 'root' | 'baseUrl'> & Partial<Pick<TestGateway, 'logger'>>,
  flavorOverrides: Record<string, unknown> = {},
): Promise<void> {
  const root = gateway.root;
  writeFileSync(
    join(root, 'prompts/progressive.txt'),
    'Summary so far:\n{}\n\nNew turns:\n{}\n\nOne line per turn.',
  );
  writeFileSync(join(root, 'prompts/map.txt'), 'Turns:\n{}\n\nOne line per turn.');
  writeFileSync(join(root, 'prompts/reduce.txt'), 'Merge these notes:\n{}');
  const flavor = { ...SMALL_FLAVOR, ...flavorOverrides };
  const manifest = (route: string, fields: number, prompt: string) =>
    `${route}:\n  type: summary\n  fields: ${fields}\n  name: ${prompt}\n  flavor:\n    - ${Object.entries(
      flavor,
    )
      .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
      .join('\n      ')}\n`;
  writeFileSync(
    join(root, '.hydra-conf/services/test.yaml'),
    manifest('test/progressive', 2, 'progressive') + manifest('test/map', 1, 'map'),
  );
  try {
    await waitFor(
      async () => (await (await fetch(`${gateway.baseUrl}/services`)).text()).includes('test/map'),
      15_000,
      'the test services',
    );
  } catch (error) {
    // What the gateway said meanwhile is the only clue to a manifest it never served.
    const said = (gateway.logger?.lines ?? [])
      .slice(-8)
      .map((line) => `${line.level} ${line.context}: ${line.message}`);
    throw new Error(`${String(error)}; the gateway's last log lines:\n${said.join('\n')}`);
  }
}

/** A gateway running API and worker (ROLE=all) on the simulator, with the test services installed. */
export async function startWorkerGateway(
  simulator: LlmSimulator,
  env: Record<string, string> = {},
): Promise<TestGateway> {
  const gateway = await startTestGateway({
    seedSamples: false,
    env: {
      ROLE: 'all',
      OPENAI_API_BASE: simulator.baseUrl,
      MAX_RETRY_DELAY: '0.05',
      MAX_CONCURRENT_INFERENCES: '4',
      ...env,
    },
  });
  try {
    await installTestServices(gateway);
  } catch (error) {
    // The caller never gets this gateway: close it here, or its server keeps Jest from exiting.
    await gateway.close();
    throw error;
  }
  return gateway;
}

/** Submits `text` and waits until the job is complete; returns its id. */
export async function submitAndWait(gateway: TestGateway, route: string, text: string): Promise<string> {
  const jobId = await submit(gateway, route, text);
  await waitFor(
    async () => (await fetch(`${gateway.baseUrl}/results/${jobId}`)).status === 200,
    20_000,
    `job ${jobId} to complete`,
  );
  return jobId;
}

/** The virtual turn lines the pipeline sends for `text` with SMALL_FLAVOR's limits. */
export function expectedTurnLines(
  text: string,
  createNewTurnAfter = SMALL_FLAVOR.createNewTurnAfter,
): string[] {
  const tokenizer = new TokenizersService().family('cl100k_base');
  return splitLongTurns(splitTurns(text), createNewTurnAfter, tokenizer).map(turnLine);
}

/** What docs/api.md 6.3 predicts without reduce and consolidation: one simulated line per turn. */
export function predictedSummary(lines: readonly string[]): string {
  return lines
    .map((line) => simulatedAnswer(line))
    .filter((line) => line !== '')
    .join('\n');
}

export async function submit(
  gateway: Pick<TestGateway, 'baseUrl'>,
  route: string,
  text: string,
  flavor = 'small',
): Promise<string> {
  const body = new FormData();
  body.append('file', new Blob([text]));
  body.append('flavor', flavor);
  const response = await fetch(`${gateway.baseUrl}/services/${route}/generate`, { method: 'POST', body });
  if (response.status !== 200)
    throw new Error(`generate answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { jobId: string }).jobId;
}

export interface ResultBody {
  status: string;
  message: string;
  progress?: string;
  summarization?: string;
  details?: string;
  error?: string;
  usage?: JobUsage;
}

/** Polls /results until the job ends; returns every body seen, the last one final. */
export async function followJob(
  gateway: Pick<TestGateway, 'baseUrl'>,
  jobId: string,
  timeoutMs = 60_000,
): Promise<ResultBody[]> {
  const seen: ResultBody[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const body = (await (await fetch(`${gateway.baseUrl}/results/${jobId}`)).json()) as ResultBody;
    seen.push(body);
    if (body.status === 'complete' || body.status === 'error' || body.status === 'unknown') return seen;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(
    `job ${jobId} did not finish within ${timeoutMs} ms; last state ${JSON.stringify(seen.at(-1))}`,
  );
}
