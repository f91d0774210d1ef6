import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestGateway, type TestGateway, waitFor } from './support/gateway';

/** docs/api.md asks for 2 s; tests wait longer so a loaded CI machine does not flake. */
const RELOAD_WAIT_MS = 5_000;

describe('the prompts folder is watched (issue 13)', () => {
  let gateway: TestGateway;

  const routes = async () => {
    const response = await fetch(`${gateway.baseUrl}/services`);
    return response.status === 200
      ? ((await response.json()) as { route: string }[]).map((s) => s.route)
      : [];
  };

  beforeAll(async () => {
    gateway = await startTestGateway({ seedSamples: true });
  });
  afterAll(() => gateway.close());

  it('a manifest rejected for a missing prompt is served once the prompt is written (ConfigMaps updated in the wrong order)', async () => {
    const manifest = readFileSync(join(gateway.root, '.hydra-conf/services/summarize-en.yaml'), 'utf8')
      .replace(/^summarize\/en:/m, 'late/en:')
      .replace(/name: summarize-en\b/, 'name: late-prompt');
    expect(manifest).toContain('late-prompt');
    writeFileSync(join(gateway.root, '.hydra-conf/services/late.yaml'), manifest);
    await waitFor(
      async () => gateway.logger.matching(/late\.yaml.*late-prompt/).length > 0,
      RELOAD_WAIT_MS,
      'the rejection of late.yaml',
    );
    expect(await routes()).not.toContain('late/en');
    writeFileSync(join(gateway.root, 'prompts/late-prompt.txt'), 'Summarize:\n{}\n{}');
    const elapsedMs = await waitFor(
      async () => (await routes()).includes('late/en'),
      RELOAD_WAIT_MS,
      'late/en to be served',
    );
    expect(elapsedMs).toBeLessThan(RELOAD_WAIT_MS);
  });

  it('deleting a prompt a served manifest needs is logged at once; the last good version keeps serving', async () => {
    const before = gateway.logger.lines.length;
    rmSync(join(gateway.root, 'prompts/late-prompt.txt'));
    await waitFor(
      async () =>
        gateway.logger.lines
          .slice(before)
          .some(
            (line) =>
              line.level === 'error' &&
              /late\.yaml/.test(line.message) &&
              /late-prompt/.test(line.message) &&
              /previous version keeps serving/.test(line.message),
          ),
      RELOAD_WAIT_MS,
      'the deleted prompt to be reported',
    );
    expect(await routes()).toContain('late/en');
    // The other manifests are checked again without being reported as loaded again.
    expect(
      gateway.logger.lines.slice(before).filter((line) => /summarize-en\.yaml loaded/.test(line.message)),
    ).toEqual([]);
  });
});
