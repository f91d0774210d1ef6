// What `npm run local` and `npm test` install on a fresh machine before they run: the npm
// packages, and redis-server (from apt when running as root). Plain CommonJS with no dependency,
// so it runs before `npm ci`.
'use strict';

const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function say(message) {
  process.stdout.write(`[setup] ${message}\n`);
}

function runOrThrow(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    throw new Error(`"${command} ${args.join(' ')}" failed (exit ${result.status ?? result.signal})`);
  }
}

function hasCommand(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** `npm ci` when node_modules is missing or older than package-lock.json. */
function ensureNodeModules() {
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  if (existsSync(installed)) return;
  say('installing npm packages (npm ci)');
  runOrThrow('npm', ['ci', '--no-audit', '--no-fund']);
}

/** Installs redis-server from apt when absent and running as root; otherwise says how. */
function ensureRedisServerInstalled() {
  if (hasCommand('redis-server')) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && hasCommand('apt-get')) {
    say('redis-server is not installed: installing it with apt-get');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    runOrThrow('apt-get', ['update', '-qq'], { env });
    runOrThrow('apt-get', ['install', '-y', '-qq', 'redis-server'], { env });
    return;
  }
  throw new Error(
    'redis-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) and run this again.',
  );
}

module.exports = { root, say, runOrThrow, ensureNodeModules, ensureRedisServerInstalled };
