import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModuleKind, ScriptTarget, transpileModule } from 'typescript';

describe('preloadFetch', () => {
  it('loads fetch in a process that has not used it yet', () => {
    // A fresh process: this one (jest's environment) has loaded fetch already.
    const source = readFileSync(join(__dirname, 'fetch-preload.ts'), 'utf8');
    const compiled = transpileModule(source, {
      compilerOptions: { module: ModuleKind.CommonJS, target: ScriptTarget.ES2022 },
    }).outputText;
    const script = `
      const exports = {};
      ${compiled}
      const isLoaded = () => process.moduleLoadList.some((name) => name.endsWith('/undici'));
      const before = isLoaded();
      exports.preloadFetch();
      process.stdout.write(JSON.stringify({ before, after: isLoaded() }));
    `;
    const output = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(JSON.parse(output)).toEqual({ before: false, after: true });
  });
});
