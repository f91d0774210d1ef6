import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PromptStore } from './prompts.repository';

// Every read of a prompt file counted (and made): a file kept is not read again.
jest.mock('node:fs/promises', () => {
  const actual = jest.requireActual<typeof import('node:fs/promises')>('node:fs/promises');
  return { ...actual, readFile: jest.fn(actual.readFile) };
});

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

  it('reads a file changed less than PROMPT_SETTLED_MS ago at every use (a change within one tick of its clock could leave its stats the same)', async () => {
    jest.mocked(readFile).mockClear();
    expect((await store.read('two')).template).toBe('So far:\n{}\nNew:\n{}');
    writeFileSync(join(root, 'prompts', 'two.txt'), 'So far:\n{}\nOld:\n{}'); // same size, in place
    expect((await store.read('two')).template).toBe('So far:\n{}\nOld:\n{}');
    expect((await store.read('two')).template).toBe('So far:\n{}\nOld:\n{}');
    expect(readFile).toHaveBeenCalledTimes(3);
  });

  describe('a file unchanged since it settled', () => {
    it('is not read again, until it changes or another file takes its name', async () => {
      const settled = new PromptStore({ promptsPath: join(root, 'prompts') });
      settled.settledMs = 0;
      jest.mocked(readFile).mockClear();
      expect((await settled.read('two')).template).toBe('So far:\n{}\nNew:\n{}');
      expect((await settled.read('two')).template).toBe('So far:\n{}\nNew:\n{}');
      expect(readFile).toHaveBeenCalledTimes(1);
      writeFileSync(join(root, 'prompts', 'two.txt'), 'Edited {} {}');
      expect((await settled.read('two')).template).toBe('Edited {} {}');
      // Replaced by another file (a new inode), as editors and ConfigMaps do.
      writeFileSync(join(root, 'prompts', 'other.txt'), 'Other {} {}');
      rmSync(join(root, 'prompts', 'two.txt'));
      symlinkSync(join(root, 'prompts', 'other.txt'), join(root, 'prompts', 'two.txt'));
      expect((await settled.read('two')).template).toBe('Other {} {}');
      expect(readFile).toHaveBeenCalledTimes(3);
    });
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
