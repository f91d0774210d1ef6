import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestGateway, REPOSITORY_ROOT, type TestGateway, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import {
  expectedTurnLines,
  predictedSummary,
  readTranscript,
  startWorkerGateway,
} from './support/pipeline-fixtures';

/**
 * The CLI compiled from its sources as `npm run build` compiles it (clients/tsconfig.json), into a
 * folder of the repository so that it finds node_modules, and run as a child process.
 */
const BUILD = join(REPOSITORY_ROOT, '.local', `cli-test-${process.pid}`);
const CLI = join(BUILD, 'cli', 'main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: REPOSITORY_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

beforeAll(async () => {
  await promisify(execFile)(
    process.execPath,
    [
      join(REPOSITORY_ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      'clients/tsconfig.json',
      '--outDir',
      BUILD,
    ],
    { cwd: REPOSITORY_ROOT },
  );
}, 120_000);

afterAll(() => rmSync(BUILD, { recursive: true, force: true }));

describe('llm-gateway CLI against the real gateway', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;
  let files: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    simulator = await new LlmSimulator().start();
    gateway = await startWorkerGateway(simulator);
    env = { LLM_GATEWAY_URL: gateway.baseUrl };
    files = mkdtempSync(join(tmpdir(), 'cli-'));
    writeFileSync(join(files, 'meeting.txt'), readTranscript('ES2004a.txt'));
  });
  afterEach(() => {
    simulator.latencyMs = 0;
  });
  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
    rmSync(files, { recursive: true, force: true });
  });

  const expectedSummary = () => predictedSummary(expectedTurnLines(readTranscript('ES2004a.txt')));

  it('services: a table of routes, flavors and descriptions; --json for scripts', async () => {
    const table = await cli(['services'], env);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SERVICE\s+FLAVORS\s+DESCRIPTION$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/).slice(0, 2))).toEqual([
      ['test/progressive', 'small'],
      ['test/map', 'small'],
    ]);
    const json = await cli(['services', '--json'], env);
    expect((JSON.parse(json.stdout) as { route: string }[]).map((service) => service.route)).toEqual([
      'test/progressive',
      'test/map',
    ]);
  });

  it('summarize --follow: a progress bar fed by the WebSocket, then the summary on stdout', async () => {
    simulator.latencyMs = 10;
    const run = await cli(
      ['summarize', join(files, 'meeting.txt'), '--service', 'test/progressive', '--follow', '--progress'],
      env,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${expectedSummary()}\n`);
    expect(run.stderr).toMatch(/^Job [0-9a-f-]{36} \(test\/progressive, flavor small\)\n/);
    const percents = [...run.stderr.matchAll(/[█░]{30} (\d+)% \| (\w+)/g)].map((match) => Number(match[1]));
    expect(percents.at(-1)).toBe(100);
    expect(percents.some((percent) => percent > 0 && percent < 100)).toBe(true);
  });

  it('summarize without --follow prints the job id; status, watch --json and --output follow it', async () => {
    const submitted = await cli(
      ['summarize', '-', '-s', 'test/map', '--flavor', 'small', '--temperature', '0.4', '--top-p', '0.9'],
      env,
      'Alice : We ship on Friday.\nBob : I write the notes.\n',
    );
    expect(submitted.code).toBe(0);
    const jobId = submitted.stdout.trim();
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    const output = join(files, 'summary.txt');
    const watched = await cli(['watch', jobId, '--json', '--output', output], env);
    expect(watched.code).toBe(0);
    const states = watched.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { jobId: string; status: string; summarization?: string });
    expect(states.at(-1)).toMatchObject({ jobId, status: 'complete' });
    const summary = states.at(-1)?.summarization ?? '';
    expect(readFileSync(output, 'utf8')).toBe(`${summary}\n`);
    expect(simulator.requests.at(-1)).toMatchObject({ temperature: 0.4, topP: 0.9 });

    const status = await cli(['status', jobId], env);
    expect(status).toMatchObject({ code: 0, stdout: `complete\n${summary}\n` });
    const statusJson = await cli(['--json', 'status', jobId], env);
    expect(JSON.parse(statusJson.stdout)).toEqual({
      jobId,
      status: 'complete',
      message: 'success',
      summarization: summary,
      usage: expect.objectContaining({ flavor: 'small' }) as unknown,
    });
  });

  it('cancel stops a running job; watch then exits 1 with the reason', async () => {
    simulator.latencyMs = 200;
    const submitted = await cli(['summarize', join(files, 'meeting.txt'), '-s', 'test/progressive'], env);
    const jobId = submitted.stdout.trim();
    await waitFor(
      async () => (await cli(['status', jobId], env)).stdout.startsWith('processing'),
      20_000,
      'the job to run',
    );
    expect(await cli(['cancel', jobId], env)).toMatchObject({ code: 0, stdout: 'cancelled\n' });
    const watched = await cli(['watch', jobId], env);
    expect(watched).toMatchObject({ code: 1, stdout: '' });
    expect(watched.stderr).toContain(`Job ${jobId} failed: cancelled`);
    expect((await cli(['status', jobId], env)).code).toBe(1);
  });

  it.each([
    [
      ['summarize', 'meeting.txt', '--service', 'summarize/de'],
      /Unknown service "summarize\/de"\. Services: test\/progressive, test\/map/,
    ],
    [
      ['summarize', 'meeting.txt', '-s', 'test/map', '--flavor', 'gpt-9'],
      /Unknown flavor "gpt-9" for test\/map\. Flavors: small/,
    ],
    [['summarize', 'no-such-file.txt', '-s', 'test/map'], /Cannot read no-such-file\.txt/],
    [['summarize', 'meeting.txt', '-s', 'test/map', '--temperature', 'warm'], /--temperature.*Not a number/],
    [['summarise', 'meeting.txt'], /unknown command 'summarise'/],
    [['status'], /missing required argument 'id'/],
  ])('%p is a usage error (exit 2): %p', async (args, message) => {
    const run = await cli(
      args.map((arg) => (arg === 'meeting.txt' ? join(files, arg) : arg)),
      env,
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });

  it('an unknown job: status, watch and cancel exit 5', async () => {
    const missing = '00000000-0000-0000-0000-000000000000';
    for (const command of ['status', 'watch', 'cancel']) {
      const run = await cli([command, missing], env);
      expect([command, run.code]).toEqual([command, 5]);
    }
  });

  it('a gateway that cannot be reached: exit 3, naming the URL', async () => {
    const run = await cli(['services', '--url', 'http://127.0.0.1:9'], env);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('Cannot reach the gateway at http://127.0.0.1:9/services');
    expect(run.stderr).toContain('--url or LLM_GATEWAY_URL');
  });

  it('--help documents the commands and the exit codes', async () => {
    const run = await cli(['--help'], env);
    expect(run.code).toBe(0);
    for (const text of [
      'services',
      'summarize',
      'status',
      'watch',
      'cancel',
      'LLM_GATEWAY_URL',
      'Exit codes:',
    ]) {
      expect(run.stdout).toContain(text);
    }
  });
});

describe('llm-gateway CLI with API keys', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ env: { API_KEYS: 'key-one' } });
  });
  afterAll(() => gateway.close());

  it('without a key: exit 4 and a hint; with --api-key or LLM_GATEWAY_API_KEY: served', async () => {
    const env = { LLM_GATEWAY_URL: gateway.baseUrl };
    const refused = await cli(['services'], env);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('401 Invalid or missing API key');
    expect(refused.stderr).toContain('--api-key or LLM_GATEWAY_API_KEY');
    expect((await cli(['services', '--api-key', 'key-one'], env)).code).toBe(0);
    expect((await cli(['services'], { ...env, LLM_GATEWAY_API_KEY: 'key-one' })).code).toBe(0);
  });
});
