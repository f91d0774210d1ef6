#!/usr/bin/env node
// `npm test`: installs what is missing (npm packages, redis-server), builds the gateway (the
// start-up tests run dist/main.js, as `npm run start:prod` does), then runs every Jest suite.
// Each run starts its own redis-server on an ephemeral loopback port (test/support/global-setup.ts).
'use strict';

const path = require('node:path');
const { root, runOrThrow, ensureNodeModules, ensureRedisServerInstalled } = require('./prerequisites');

try {
  ensureNodeModules();
  ensureRedisServerInstalled();
  runOrThrow('npm', ['run', '--silent', 'build']);
  runOrThrow(process.execPath, [
    path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
    ...process.argv.slice(2),
  ]);
} catch (error) {
  process.stderr.write(`[test] ${error.message}\n`);
  process.exit(1);
}
