import type { Stats } from 'node:fs';
import { realpath, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { PromptError } from './prompt.error';
import { countPlaceholders } from './prompt-template.util';

const PROMPT_NAME = /^[A-Za-z0-9._-]+$/;

export interface PromptFile {
  /** Path relative to the prompts folder's parent, for messages (never an absolute path). */
  label: string;
  template: string;
}

/**
 * A file's text is kept only once its last change (ctime) is this old: a change within the same
 * tick of the file system's clock could leave every field compared the same ("racy" stats, as
 * git calls them), so a file changed this recently is read every time.
 */
export const PROMPT_SETTLED_MS = 2_000;

/**
 * PromptStore: checks `prompts/<name>.txt` at every use (an edited prompt changes the next job)
 * and refuses any name that resolves outside the prompts folder, symlinks included. A file is
 * read again whenever it changed (another inode, size, mtime or ctime than when it was read);
 * checking costs one trip to libuv's thread pool (the realpaths and a stat at once), where a read
 * costs four more (open, fstat, read, close): a job's first LLM call waits for its prompts.
 * Newlines are read as v1 read them (Python's universal newlines): `\r\n` and `\r` become `\n`.
 */
@Injectable()
export class PromptStore {
  /** The text of each file read (by real path) and its stats then; one entry per prompt file. */
  private readonly readTexts = new Map<string, { stats: Stats; template: string }>();

  /** PROMPT_SETTLED_MS; tests shorten it. */
  settledMs = PROMPT_SETTLED_MS;

  constructor(@Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'promptsPath'>) {}

  async read(name: string): Promise<PromptFile> {
    const label = `prompts/${name}.txt`;
    if (!PROMPT_NAME.test(name) || name === '.' || name === '..') {
      throw new PromptError(`invalid prompt name "${name}"`, 'PROMPT_NAME_INVALID');
    }
    const folder = this.config.promptsPath;
    let resolvedFile: string;
    let resolvedFolder: string;
    let stats: Stats;
    try {
      // At once: each is a trip to libuv's thread pool, and a job's first call waits for its prompts.
      // The stats are the file's the name leads to now: compared below with those of the file
      // read, never taken for another file's.
      [resolvedFolder, resolvedFile, stats] = await Promise.all([
        realpath(folder),
        realpath(join(folder, `${name}.txt`)),
        stat(join(folder, `${name}.txt`)),
      ]);
    } catch {
      throw new PromptError(`prompt file ${label} does not exist`, 'PROMPT_MISSING');
    }
    const inside = relative(resolvedFolder, resolvedFile);
    if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || isAbsolute(inside)) {
      throw new PromptError(`prompt file ${label} resolves outside the prompts folder`, 'PROMPT_OUTSIDE_FOLDER');
    }
    const kept = this.readTexts.get(resolvedFile);
    if (kept && isSameFileUnchanged(kept.stats, stats)) return { label, template: kept.template };
    let template: string;
    try {
      template = toUnixNewlines(await readFile(resolvedFile, 'utf8'));
    } catch {
      throw new PromptError(`prompt file ${label} cannot be read`, 'PROMPT_MISSING');
    }
    if (Date.now() - stats.ctimeMs >= this.settledMs) this.readTexts.set(resolvedFile, { stats, template });
    else this.readTexts.delete(resolvedFile);
    return { label, template };
  }

  /** Reads a prompt and checks it holds `expectedPlaceholders` `{}` placeholders (one of them). */
  async check(name: string, expectedPlaceholders: number | readonly number[]): Promise<PromptFile> {
    const allowed = [expectedPlaceholders].flat();
    const prompt = await this.read(name);
    let count: number;
    try {
      count = countPlaceholders(prompt.template);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new PromptError(`${prompt.label}: ${reason}`, 'TEMPLATE_SYNTAX');
    }
    if (!allowed.includes(count)) {
      throw new PromptError(
        `${prompt.label} has ${count} {} placeholder(s), expected ${allowed.join(' or ')}`,
        'PLACEHOLDER_COUNT',
      );
    }
    return prompt;
  }
}

function toUnixNewlines(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

/** Whether `now` are the stats of the file `then` were taken of, not changed since. */
function isSameFileUnchanged(then: Stats, now: Stats): boolean {
  return (
    then.dev === now.dev &&
    then.ino === now.ino &&
    then.size === now.size &&
    then.mtimeMs === now.mtimeMs &&
    then.ctimeMs === now.ctimeMs
  );
}
