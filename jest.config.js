// Unit tests live beside the code (src/, *.spec.ts); end-to-end tests in test/ (*.e2e-spec.ts).
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] },
  // The Llama and Mistral tokenizer packages are ES modules: Jest compiles them to CommonJS.
  transformIgnorePatterns: [
    '/node_modules/(?!(llama3-tokenizer-js|llama-tokenizer-js|mistral-tokenizer-js)/)',
  ],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30_000,
  // In CI a handle leaked by a failing test must not hang the run until its time limit: the
  // failure is reported and the run ends. Locally Jest names the open handle instead.
  forceExit: process.env.CI === 'true',
};
