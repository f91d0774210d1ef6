import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { REPOSITORY_ROOT, startTestGateway, type TestGateway, waitFor } from './support/gateway';
import { LlmSimulator } from './support/llm-simulator';
import { submit } from './support/pipeline-fixtures';

/**
 * A v1 deployment's own files, as v1 shipped and let people write them (test/fixtures/v1-deployment):
 * v1's config.yaml with `defaults: [en, fr]`, its two release manifests (`reduce_prompt: null`),
 * a leftover unlisted `en-old.yaml` claiming en.yaml's route (it sorts first), the v1 README's
 * example manifest (a reduce prompt file that does not exist, unused), a manifest with YAML 1.1
 * booleans and a plain-text description, and CRLF prompts. Loaded unchanged.
 */
const V1_DEPLOYMENT = join(REPOSITORY_ROOT, 'test/fixtures/v1-deployment');

/** v1's line endings and turn shapes: CR only, `Bob:` without a space, a continuation, an empty turn. */
const V1_TRANSCRIPT = [
  'Alice : We open the meeting with the budget.',
  'Bob: I have the figures for the third quarter.',
  'they arrived late this time.',
  'Carol :',
  '',
  'Sofía: Gracias, seguimos con el calendario.',
].join('\r');

const EXPECTED_TURNS = [
  'Alice : We open the meeting with the budget.',
  'Bob: I have the figures for the third quarter.',
  'Bob: they arrived late this time.',
  'Carol :',
  'Sofía: Gracias, seguimos con el calendario.',
];

describe('a v1 deployment drops in unchanged (its .hydra-conf/ and prompts/)', () => {
  let simulator: LlmSimulator;
  let gateway: TestGateway;

  beforeAll(async () => {
    simulator = new LlmSimulator();
    await simulator.start();
    gateway = await startTestGateway({
      seedFrom: V1_DEPLOYMENT,
      env: {
        ROLE: 'all',
        OPENAI_API_BASE: simulator.baseUrl,
        MAX_RETRY_DELAY: '0.05',
        NOTES_TEMPERATURE: '0.3',
      },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await simulator.stop();
  });

  it('GET /services shows what v1 showed, key by key: defaults: order first, nulls kept, file key order', async () => {
    const response = await fetch(`${gateway.baseUrl}/services`);
    expect(response.status).toBe(200);
    const expectedText = readFileSync(join(V1_DEPLOYMENT, 'expected-services.json'), 'utf8');
    // Compared as text: the order of services and of every key counts, as clients print it.
    expect(JSON.stringify(await response.json(), null, 2) + '\n').toBe(expectedText);
  });

  it('publishes the same list in Redis key services_config', async () => {
    const redis = new Redis(gateway.redisUrl);
    try {
      const published = JSON.parse((await redis.get('services_config')) ?? 'null') as unknown;
      expect(published).toEqual(
        JSON.parse(readFileSync(join(V1_DEPLOYMENT, 'expected-services.json'), 'utf8')),
      );
    } finally {
      redis.disconnect();
    }
  });

  it('rejects the leftover unlisted file claiming a listed route, with a warning naming both files', () => {
    const lines = gateway.logger.lines.filter((line) =>
      line.message.includes('services/en-old.yaml rejected'),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe('warn');
    expect(lines[0]?.message).toContain('route "summarize-en" is already served by services/en.yaml');
    // Nothing else was refused: reduce_prompt null, the README example, YAML 1.1 booleans load.
    expect(gateway.logger.matching(/rejected/)).toHaveLength(1);
  });

  it.each([
    ['summarize-en', 'llama', 'meta-llama-31-8b-it', 0.2],
    ['summarize-fr', 'llama', 'meta-llama-31-8b-it', 0.2],
    ['summarize/en', 'llama', 'meta-llama-31-8b-it', 0.2],
    ['meeting-notes', 'mistral', 'mistral-7b-instruct-v0.2', 0.3],
  ])(
    'runs a job on %s: prompts reach the LLM without \\r, turns as written',
    async (route, flavor, model, temperature) => {
      simulator.reset();
      const jobId = await submit(gateway, route, V1_TRANSCRIPT, flavor);
      await waitFor(
        async () => (await fetch(`${gateway.baseUrl}/results/${jobId}`)).status !== 202,
        20_000,
        `job ${jobId} on ${route}`,
      );
      const result = (await (await fetch(`${gateway.baseUrl}/results/${jobId}`)).json()) as Record<
        string,
        unknown
      >;
      expect(result).toMatchObject({ status: 'complete', message: 'success' });

      expect(simulator.requests.length).toBeGreaterThan(0);
      for (const request of simulator.requests) {
        expect(request.prompt).not.toContain('\r');
        expect(request.model).toBe(model);
        expect(request.temperature).toBe(temperature);
      }
      // Every turn reaches exactly one prompt, on its own line, as written, in document order.
      const turnsByCall = simulator.requests.map((request) =>
        request.prompt.split('\n').filter((line) => EXPECTED_TURNS.includes(line)),
      );
      for (const turns of turnsByCall) {
        const positions = turns.map((turn) => EXPECTED_TURNS.indexOf(turn));
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
      }
      expect(turnsByCall.flat().sort()).toEqual([...EXPECTED_TURNS].sort());
    },
  );

  it('writing config.yaml re-ranks the files at once: dropping en from defaults: lets en-old.yaml serve', async () => {
    const configFile = join(gateway.root, '.hydra-conf/config.yaml');
    const original = readFileSync(configFile, 'utf8');
    try {
      writeFileSync(configFile, original.replace('    - en\n', ''));
      await waitFor(
        async () =>
          JSON.stringify(await (await fetch(`${gateway.baseUrl}/services`)).json()).includes('(old)'),
        5_000,
        'en-old.yaml to serve summarize-en',
      );
      const services = (await (await fetch(`${gateway.baseUrl}/services`)).json()) as { route: string }[];
      // fr is listed, so first; then the unlisted files in the order they arrived.
      expect(services.map((service) => service.route)).toEqual([
        'summarize-fr',
        'summarize-en',
        'meeting-notes',
        'summarize/en',
      ]);
      expect(gateway.logger.matching(/services\/en\.yaml rejected/).at(-1)).toContain(
        'route "summarize-en" is already served by services/en-old.yaml',
      );
    } finally {
      writeFileSync(configFile, original);
      await waitFor(
        async () =>
          !JSON.stringify(await (await fetch(`${gateway.baseUrl}/services`)).json()).includes('(old)'),
        5_000,
        'en.yaml to serve summarize-en again',
      );
    }
  });
});
