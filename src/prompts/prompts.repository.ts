import { realpath, readFile } from 'node:fs/promises';
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
 * PromptStore: reads `prompts/<name>.txt` at every use (no cache: an edited prompt changes the
 * next job) and refuses any name that resolves outside the prompts folder, symlinks included.
 * Newlines are read as v1 read them (Python's universal newlines): `\r\n` and `\r` become `\n`.
 */
@Injectable()
export class PromptStore {
  constructor(@Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'promptsPath'>) {}

  async read(name: string): Promise<PromptFile> {
    const label = `prompts/${name}.txt`;
    if (!PROMPT_NAME.test(name) || name === '.' || name === '..') {
      throw new PromptError(`invalid prompt name "${name}"`, 'PROMPT_NAME_INVALID');
    }
    const folder = this.config.promptsPath;
    let resolvedFile: string;
    let resolvedFolder: string;
    try {
      // At once: each is a trip to libuv's thread pool, and a job's first call waits for its prompts.
      [resolvedFolder, resolvedFile] = await Promise.all([
        realpath(folder),
        realpath(join(folder, `${name}.txt`)),
      ]);
    } catch {
      throw new PromptError(`prompt file ${label} does not exist`, 'PROMPT_MISSING');
    }
    const inside = relative(resolvedFolder, resolvedFile);
    if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || isAbsolute(inside)) {
      throw new PromptError(`prompt file ${label} resolves outside the prompts folder`, 'PROMPT_OUTSIDE_FOLDER');
    }
    try {
      return { label, template: toUnixNewlines(await readFile(resolvedFile, 'utf8')) };
    } catch {
      throw new PromptError(`prompt file ${label} cannot be read`, 'PROMPT_MISSING');
    }
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
