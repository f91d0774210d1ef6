import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PromptStore } from './prompts.repository';

describe('PromptStore', () => {
  let root: string;
  let store: PromptStore;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'prompts-'));
    mkdirSync(join(root, 'prompts'));
    writeFileSync(join(root, 'prompts', 'two.txt'), 'So far:\n{}\nNew:\n{}');
    writeFileSync(join(root, 'prompts', 'bad.txt'), 'Hello {name}');
    writeFileSync(join(root, 'secret.txt'), 'outside {}');
    symlinkSync(join(root, 'secret.txt'), join(root, 'prompts', 'escape.txt'));
    store = new PromptStore({ promptsPath: join(root, 'prompts') });
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('re-reads the file at every use', async () => {
    expect((await store.read('two')).template).toContain('So far');
    writeFileSync(join(root, 'prompts', 'two.txt'), 'Edited {} {}');
    expect((await store.read('two')).template).toBe('Edited {} {}');
  });

  it('checks the placeholder count', async () => {
    await expect(store.check('two', 2)).resolves.toMatchObject({ label: 'prompts/two.txt' });
    await expect(store.check('two', 1)).rejects.toMatchObject({
      code: 'PLACEHOLDER_COUNT',
      message: 'prompts/two.txt has 2 {} placeholder(s), expected 1',
    });
    await expect(store.check('bad', 1)).rejects.toMatchObject({ code: 'TEMPLATE_SYNTAX' });
  });

  it.each([
    ['../secret', 'PROMPT_NAME_INVALID'],
    ['/etc/passwd', 'PROMPT_NAME_INVALID'],
    ['..', 'PROMPT_NAME_INVALID'],
    ['escape', 'PROMPT_OUTSIDE_FOLDER'],
    ['missing', 'PROMPT_MISSING'],
  ])('refuses %p with %s', async (name, code) => {
    await expect(store.read(name)).rejects.toMatchObject({ code });
  });

  it('never puts an absolute path in its messages', async () => {
    await expect(store.read('escape')).rejects.toThrow('prompt file prompts/escape.txt resolves outside');
    await expect(store.read('missing')).rejects.not.toThrow(root);
  });
});
