import { readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { startTestGateway, type TestGateway, waitFor } from './support/gateway';

const fixtures = join(__dirname, 'fixtures/manifests');
/** docs/api.md asks for 2 s; tests wait longer so a loaded CI machine does not flake. */
const RELOAD_WAIT_MS = 5_000;

describe('hot reload of manifests (docs/api.md section 2)', () => {
  let gateway: TestGateway;
  let redis: Redis;
  const reloadTimesMs: number[] = [];

  const services = async () => {
    const response = await fetch(`${gateway.baseUrl}/services`);
    return response.status === 200
      ? ((await response.json()) as { route: string; flavor: { name: string }[] }[])
      : [];
  };
  const routes = async () => (await services()).map((service) => service.route);
  const generateStatus = async (route: string, flavor = 'llama') => {
    const body = new FormData();
    body.append('file', new Blob(['Alice : hello']));
    body.append('flavor', flavor);
    return (await fetch(`${gateway.baseUrl}/services/${route}/generate`, { method: 'POST', body })).status;
  };
  const documentedPaths = async () =>
    Object.keys(((await (await fetch(`${gateway.baseUrl}/docs-json`)).json()) as { paths: object }).paths);
  const manifestPath = (name: string) => join(gateway.root, '.hydra-conf/services', name);
  const until = async (check: () => Promise<boolean>, what: string) => {
    reloadTimesMs.push(await waitFor(check, RELOAD_WAIT_MS, what));
  };

  beforeAll(async () => {
    gateway = await startTestGateway({ seedSamples: true });
    redis = new Redis(gateway.redisUrl);
    writeFileSync(join(gateway.root, 'prompts/cra.txt'), 'Turns:\n{}');
    writeFileSync(join(gateway.root, 'prompts/cra-reduce.txt'), 'Notes:\n{}');
  });

  afterAll(async () => {
    await gateway.close();
    redis.disconnect();
    if (reloadTimesMs.length > 0) {
      const sorted = [...reloadTimesMs].sort((a, b) => a - b);
      process.stdout.write(
        `hot reload, save to HTTP change: median ${Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0)} ms, max ${Math.round(sorted.at(-1) ?? 0)} ms over ${sorted.length} changes\n`,
      );
    }
  });

  it('adds a service with slashes in its route: /services, generate route and OpenAPI', async () => {
    writeFileSync(
      manifestPath('extra.yaml'),
      readFileSync(join(fixtures, 'ok/two-services-two-flavors.yaml')),
    );
    await until(async () => (await routes()).includes('report/markdown/v2'), 'the new service');
    expect(await routes()).toEqual(expect.arrayContaining(['cra', 'report/markdown/v2', 'summarize/en']));
    expect(await generateStatus('report/markdown/v2')).toBe(200);
    expect(await documentedPaths()).toEqual(
      expect.arrayContaining(['/services/cra/generate', '/services/report/markdown/v2/generate']),
    );
    const published = JSON.parse((await redis.get('services_config')) ?? '[]') as { route: string }[];
    expect(published.map((service) => service.route)).toContain('report/markdown/v2');
  });

  it('modifies a service: its new flavor is served', async () => {
    const text = readFileSync(manifestPath('extra.yaml'), 'utf8').replace(
      '- name: mixtral',
      '- name: mixtral-v2',
    );
    writeFileSync(manifestPath('extra.yaml'), text);
    await until(
      async () =>
        (await services()).find((service) => service.route === 'cra')?.flavor[0]?.name === 'mixtral-v2',
      'the modified flavor',
    );
    expect(await generateStatus('cra', 'mixtral')).toBe(404);
    expect(await generateStatus('cra', 'mixtral-v2')).toBe(200);
  });

  it('keeps the previous good version of a broken file, logs one line naming file, key and field, and recovers', async () => {
    const good = readFileSync(manifestPath('extra.yaml'), 'utf8');
    writeFileSync(manifestPath('extra.yaml'), good.replace('top_p: 0.7', 'top_p: 7'));
    await until(
      async () => gateway.logger.matching(/extra\.yaml rejected/).length > 0,
      'the rejection log line',
    );
    const [line] = gateway.logger.matching(/extra\.yaml rejected/);
    expect(line).toMatch(
      /^Manifest services\/extra\.yaml rejected: service "cra", field "flavor\[0\]\.top_p": top_p must be greater than 0 and at most 1/,
    );
    expect(line).toContain('the previous version keeps serving');
    expect(await routes()).toEqual(expect.arrayContaining(['cra', 'report/markdown/v2', 'summarize/en']));
    expect(await generateStatus('cra', 'mixtral-v2')).toBe(200);

    writeFileSync(manifestPath('extra.yaml'), 'cra: [not: valid: yaml');
    await until(
      async () => gateway.logger.matching(/extra\.yaml rejected: invalid YAML/).length > 0,
      'the YAML error',
    );
    expect(await routes()).toContain('cra');

    writeFileSync(manifestPath('extra.yaml'), good.replace('- name: mixtral-v2', '- name: fixed'));
    await until(
      async () => (await services()).find((service) => service.route === 'cra')?.flavor[0]?.name === 'fixed',
      'the fixed file',
    );
  });

  it('an atomic save (write elsewhere, rename over) is picked up', async () => {
    const good = readFileSync(manifestPath('extra.yaml'), 'utf8');
    writeFileSync(join(gateway.root, 'extra.yaml.tmp'), good.replace('- name: fixed', '- name: renamed'));
    renameSync(join(gateway.root, 'extra.yaml.tmp'), manifestPath('extra.yaml'));
    await until(
      async () =>
        (await services()).find((service) => service.route === 'cra')?.flavor[0]?.name === 'renamed',
      'the renamed file',
    );
  });

  it('refuses a route already served by another file, naming both files', async () => {
    writeFileSync(manifestPath('zz-duplicate.yaml'), readFileSync(join(fixtures, 'ok/readme-style.yaml')));
    await until(
      async () => gateway.logger.matching(/zz-duplicate\.yaml rejected/).length > 0,
      'the duplicate rejection',
    );
    expect(gateway.logger.matching(/zz-duplicate\.yaml rejected/)[0]).toContain(
      'service "summarize/en", field "route": route "summarize/en" is already served by services/summarize-en.yaml',
    );
    expect((await routes()).filter((route) => route === 'summarize/en')).toHaveLength(1);
    rmSync(manifestPath('zz-duplicate.yaml'));
  });

  /** Saves a copy of the README-style fixture as `<key>.yaml` using prompt `<promptName>`; returns its rejection line. */
  const rejectionOfServiceUsingPrompt = async (key: string, promptName: string): Promise<string> => {
    const text = readFileSync(join(fixtures, 'ok/readme-style.yaml'), 'utf8')
      .replace('summarize/en:', `${key}:`)
      .replace('name: summarize-en', `name: ${promptName}`);
    writeFileSync(manifestPath(`${key}.yaml`), text);
    const rejected = new RegExp(`${key}\\.yaml rejected`);
    await until(async () => gateway.logger.matching(rejected).length > 0, `the rejection of ${key}.yaml`);
    expect(await routes()).not.toContain(key);
    return gateway.logger.matching(rejected)[0] ?? '';
  };

  it('refuses a prompt whose placeholder count differs from fields', async () => {
    writeFileSync(join(gateway.root, 'prompts/one-placeholder.txt'), 'Only {} here');
    expect(await rejectionOfServiceUsingPrompt('mismatch', 'one-placeholder')).toContain(
      'service "mismatch", field "name": prompts/one-placeholder.txt has 1 {} placeholder(s), expected 2',
    );
  });

  it('refuses a prompt that resolves outside the prompts folder', async () => {
    writeFileSync(join(gateway.root, 'outside.txt'), 'secret {} {}');
    symlinkSync(join(gateway.root, 'outside.txt'), join(gateway.root, 'prompts/escape.txt'));
    expect(await rejectionOfServiceUsingPrompt('escape', 'escape')).toContain(
      'service "escape", field "name": prompt file prompts/escape.txt resolves outside the prompts folder',
    );
  });

  it('deletes a service: routes and OpenAPI lose it, other files are unaffected', async () => {
    rmSync(manifestPath('extra.yaml'));
    await until(async () => !(await routes()).includes('cra'), 'the deletion');
    expect(await generateStatus('cra', 'renamed')).toBe(404);
    const paths = await documentedPaths();
    expect(paths).not.toContain('/services/cra/generate');
    expect(paths).toContain('/services/summarize/en/generate');
    expect(await routes()).toEqual(['report/markdown', 'summarize/en', 'summarize-fr']);
  });

  it('answers 404 "No services available" once every manifest is gone', async () => {
    for (const name of [
      'report.yaml',
      'summarize-en.yaml',
      'summarize-fr.yaml',
      'mismatch.yaml',
      'escape.yaml',
    ]) {
      rmSync(manifestPath(name), { force: true });
    }
    await until(async () => (await fetch(`${gateway.baseUrl}/services`)).status === 404, 'an empty registry');
    expect(await (await fetch(`${gateway.baseUrl}/services`)).json()).toEqual({
      detail: 'No services available',
    });
    expect(await redis.get('services_config')).toBe('[]');
  });
});
