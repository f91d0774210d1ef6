import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The PATH of the clean environments scripts and docker-compose run in (nothing of the developer's). */
export const SHELL_PATH = '/usr/bin:/bin';

/**
 * A temporary folder for one test file, removed after it; `scratchDir(name)` makes a fresh,
 * numbered subfolder per use.
 */
export function scratchFolder(prefix: string): (name: string) => string {
  const scratch = mkdtempSync(join(tmpdir(), `${prefix}-`));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  let count = 0;
  return (name: string) => {
    const dir = join(scratch, `${String(++count)}-${name}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
}

/** An executable `#!/bin/sh` script (a stand-in for a command the tested script calls). */
export function writeScript(dir: string, name: string, body: string): void {
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

/** Fails with how to install it when Debian's docker-compose (which renders files offline) is missing. */
export function requireDockerCompose(renders: string): void {
  const probe = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `docker-compose is not installed: these tests render ${renders} with it ` +
        '(Debian: apt-get install docker-compose; .ci/run installs it)',
    );
  }
}

/** A compose value as the shell sees it: `$$` is compose's escape for `$`. */
export const unescapeCompose = (text: string) => text.replace(/\$\$/g, '$');
