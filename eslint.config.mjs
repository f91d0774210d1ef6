// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

const NO_FOCUSED_TESTS = ['describe', 'it', 'test'].map((object) => ({
  object,
  property: 'only',
  message: 'No focused tests.',
}));

/** Import restrictions by name, combined per folder below. */
const IMPORT_RESTRICTIONS = {
  bullmq: {
    group: ['bullmq', '@nestjs/bullmq'],
    message:
      'Only jobs/ (the queue), pipeline/ (the worker) and realtime/job-events.repository.ts (its event stream) use BullMQ.',
  },
  openai: { group: ['openai', 'openai/*'], message: 'Only inference/ calls the LLM.' },
  io: {
    group: ['@nestjs/*', 'ioredis', 'node:fs', 'node:fs/*', 'fs', 'fs/*', 'express', 'ws'],
    message: 'A *.util.ts file is pure: no Nest, no Redis, no file system, no network.',
    // Types (the OpenAPI object shapes of @nestjs/swagger) cost nothing at run time.
    allowTypeImports: true,
  },
};

function restrictImports(...names) {
  return ['error', { patterns: names.map((name) => IMPORT_RESTRICTIONS[name]) }];
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.local/'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-extraneous-class': ['error', { allowWithDecorator: true }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // Stylistic: `() => void`-returning shorthands read fine.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // Nest's option types are classes filled with object literals by design.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      eqeqeq: ['error', 'always'],
      'no-restricted-properties': ['error', ...NO_FOCUSED_TESTS],
    },
  },
  {
    // Plain Node scripts that run before `npm ci`: CommonJS, no type information.
    files: ['scripts/**/*.js', 'jest.config.js', '**/*.mjs', '.dependency-cruiser.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: null },
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
      },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // No process.env outside config/; main and logging are the edges. (A rule set again in a
    // later block replaces the earlier options for its files: the ban on focused tests is repeated.)
    files: ['src/**/*.ts'],
    ignores: ['src/config/**', 'src/main.ts', 'src/logging.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        ...NO_FOCUSED_TESTS,
        {
          object: 'process',
          property: 'env',
          message: 'Read configuration through AppConfig (src/config/).',
        },
      ],
    },
  },
  // The rules of the house (docs/architecture.md, "Rules of the house"): who may import what.
  // Later blocks replace the options of earlier ones for the files they match, so each block
  // lists every restriction that holds for its files.
  {
    files: ['src/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': restrictImports('bullmq', 'openai') },
  },
  {
    files: ['src/jobs/**/*.ts', 'src/pipeline/**/*.ts', 'src/realtime/job-events.repository.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': restrictImports('openai') },
  },
  {
    files: ['src/inference/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': restrictImports('bullmq') },
  },
  {
    files: ['src/**/*.util.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': restrictImports('bullmq', 'openai', 'io') },
  },
  {
    files: ['test/**/*.ts', 'src/**/*.spec.ts'],
    rules: {
      // Polling callbacks are async by contract even when a check is synchronous.
      '@typescript-eslint/require-await': 'off',
    },
  },
  prettier,
);
