// Checked by `npm run lint` (depcruise): the module graph of src/ keeps the shape that
// docs/architecture.md describes. The import rules per file kind live in eslint.config.mjs.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycle',
      comment:
        'Capabilities (the folders of src/) depend on each other in one direction only: a cycle ' +
        'between two folders means one of them does two jobs (docs/architecture.md, "Modules").',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/[^/]+' },
      to: { path: '^src/[^/]+', circular: true },
    },
    {
      name: 'no-file-cycle',
      comment: 'Files import each other in one direction only (Nest resolves providers, not cycles).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-never-imports-tests',
      comment: 'The gateway ships without its tests and their support code.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.spec\\.ts$' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
