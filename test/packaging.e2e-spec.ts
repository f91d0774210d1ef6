import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { load } from 'js-yaml';
import type { AppConfig } from '../src/config/app-config';
import { loadAppConfig } from '../src/config/load-app-config';
import { VARIABLES } from '../src/config/parse-app-config.util';
import { REPOSITORY_ROOT } from './support/gateway';
import {
  requireDockerCompose,
  SHELL_PATH,
  scratchFolder,
  unescapeCompose,
  writeScript,
} from './support/shell-fixtures';

// Docker has no engine here: the compose file is rendered by Debian's `docker-compose` (it needs
// no engine for `config`), the shell scripts of the containers (Redis' command and health check,
// the gateway's entrypoint) are run with stand-ins for the commands they call, and the Dockerfile's
// pieces that can run outside an image (health check, LLM simulator) are run. The image build
// itself, host.docker.internal and the init process are left to a machine with Docker.

const read = (file: string) => readFileSync(join(REPOSITORY_ROOT, file), 'utf8');
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1', '0.0.0.0'];

const scratchDir = scratchFolder('packaging');

interface ComposeService {
  image?: string;
  build?: { context: string; target?: string };
  command?: string[];
  entrypoint?: unknown;
  environment?: Record<string, string | number>;
  env_file?: unknown;
  ports?: { published: number | string; target: number | string }[];
  volumes?: string[];
  profiles?: string[];
  depends_on?: Record<string, { condition?: string }>;
  networks?: Record<string, { aliases?: string[] } | null>;
  healthcheck?: { test?: string[]; disable?: boolean };
  extra_hosts?: string[];
  init?: boolean;
  user?: string;
}

interface RenderedCompose {
  services: Record<string, ComposeService>;
  stderr: string;
  /** The project folder, as a container would see its bind mounts' sources. */
  dir: string;
}

/** Host names under which a service is reached on the compose network. */
function namesOf(compose: RenderedCompose, service: string): string[] {
  const aliases = compose.services[service]?.networks?.default?.aliases ?? [];
  return [service, ...aliases];
}

function environmentOf(service: ComposeService | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service?.environment ?? {}).map(([name, value]) => [name, String(value)]),
  );
}

/**
 * `docker-compose config` for a project folder holding docker-compose.yml and the given file as
 * `.env`, in a clean environment: only PATH and HOME, so the developer's variables stay out.
 */
function renderCompose(dotenvFile: string): RenderedCompose {
  const dir = scratchDir('compose');
  copyFileSync(join(REPOSITORY_ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
  copyFileSync(join(REPOSITORY_ROOT, dotenvFile), join(dir, '.env'));
  const result = spawnSync(
    'docker-compose',
    ['--project-directory', dir, '-f', join(dir, 'docker-compose.yml'), 'config'],
    { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? SHELL_PATH, HOME: dir } },
  );
  if (result.status !== 0) {
    throw new Error(`docker-compose config failed for ${dotenvFile}: ${result.stderr}`);
  }
  const parsed = load(result.stdout) as { services: Record<string, ComposeService> };
  return { services: parsed.services, stderr: result.stderr, dir };
}

/** Compose writes `$$` for a literal `$` in its output; the container's shell receives `$`. */
/** Runs the redis service's command with a stand-in for the image's entrypoint: redis-server's arguments. */
function redisServerArguments(compose: RenderedCompose): string[] {
  const redis = compose.services.redis;
  const [shell, flag, script] = redis?.command ?? [];
  expect([shell, flag]).toEqual(['sh', '-c']);
  const bin = scratchDir('redis-bin');
  writeScript(bin, 'docker-entrypoint.sh', 'printf "%s\\n" "$@"');
  const result = spawnSync('sh', ['-c', unescapeCompose(script ?? '')], {
    encoding: 'utf8',
    env: { ...environmentOf(redis), PATH: `${bin}:${SHELL_PATH}` },
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout.split('\n').filter(Boolean);
}

function requiredPassword(redisArguments: string[]): string | undefined {
  const index = redisArguments.indexOf('--requirepass');
  return index === -1 ? undefined : redisArguments[index + 1];
}

/** Runs the redis service's health check against a stand-in redis-cli that enforces `password`. */
function redisHealthCheckPasses(compose: RenderedCompose, password: string | undefined): boolean {
  const redis = compose.services.redis;
  const [kind, script] = redis?.healthcheck?.test ?? [];
  expect(kind).toBe('CMD-SHELL');
  const bin = scratchDir('redis-cli-bin');
  writeScript(
    bin,
    'redis-cli',
    '[ "${REDISCLI_AUTH:-}" = "${FAKE_REQUIREPASS:-}" ] && echo PONG || echo "NOAUTH Authentication required."',
  );
  const result = spawnSync('sh', ['-c', unescapeCompose(script ?? '')], {
    env: { ...environmentOf(redis), PATH: `${bin}:${SHELL_PATH}`, FAKE_REQUIREPASS: password ?? '' },
  });
  return result.status === 0;
}

// --- The gateway's entrypoint, run with stand-ins for id, getent, groupadd, useradd and setpriv. ---
// The stand-ins come first on PATH, which leaves out /usr/sbin (the real groupadd and useradd):
// the script cannot change this machine's users.

const ENTRYPOINT = join(REPOSITORY_ROOT, 'scripts', 'docker-entrypoint.sh');

interface EntrypointRun {
  status: number | null;
  stderr: string;
  /** The commands the stand-ins recorded (groupadd, useradd, setpriv), in order. */
  calls: string[];
  /** What the final command saw, when it ran. */
  probe: { pid: number; env: Record<string, string> } | undefined;
  /** The entrypoint's own pid: the same as the probe's when every step exec'd. */
  pid: number | undefined;
}

const fakeSystem = (() => {
  const dir = scratchDir('fake-system');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  mkdirSync(join(dir, 'home', 'node'), { recursive: true });
  writeFileSync(
    join(dir, 'passwd'),
    [
      'root:x:0:0:root:/root:/bin/bash',
      'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
      `node:x:1000:1000::${join(dir, 'home', 'node')}:/bin/bash`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'group'), ['root:x:0:', 'www-data:x:33:', 'node:x:1000:', ''].join('\n'));
  writeScript(
    bin,
    'id',
    'case "$1" in -u) echo "$FAKE_UID" ;; -g) echo "$FAKE_GID" ;; *) echo "uid=$FAKE_UID gid=$FAKE_GID" ;; esac',
  );
  writeScript(
    bin,
    'getent',
    'awk -F: -v key="$2" \'$3 == key { print; found = 1 } END { exit found ? 0 : 2 }\' "$FAKE_ROOT/$1"',
  );
  writeScript(bin, 'groupadd', 'echo "groupadd $*" >> "$FAKE_LOG"');
  writeScript(bin, 'useradd', 'echo "useradd $*" >> "$FAKE_LOG"');
  writeScript(
    bin,
    'setpriv',
    'echo "setpriv $*" >> "$FAKE_LOG"\nwhile [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done\nshift\nexec "$@"',
  );
  return { dir, bin };
})();

function runEntrypoint(env: Record<string, string>, as: { uid: number; gid: number }): EntrypointRun {
  const log = join(scratchDir('entrypoint'), 'calls.log');
  writeFileSync(log, '');
  const probe = [
    process.execPath,
    '-e',
    'process.stdout.write(JSON.stringify({ pid: process.pid, env: process.env }))',
  ];
  const result = spawnSync('sh', [ENTRYPOINT, ...probe], {
    encoding: 'utf8',
    env: {
      ...env,
      PATH: `${fakeSystem.bin}:${SHELL_PATH}`,
      FAKE_UID: String(as.uid),
      FAKE_GID: String(as.gid),
      FAKE_ROOT: fakeSystem.dir,
      FAKE_LOG: log,
    },
  });
  return {
    status: result.status,
    stderr: result.stderr,
    calls: readFileSync(log, 'utf8').split('\n').filter(Boolean),
    probe: result.stdout ? (JSON.parse(result.stdout) as EntrypointRun['probe']) : undefined,
    pid: result.pid,
  };
}

const AS_ROOT = { uid: 0, gid: 0 };
const AS_NODE = { uid: 1000, gid: 1000 };

/** The configuration the gateway builds in its container: the environment, the mounted .hydra-conf. */
function gatewayConfigIn(env: Record<string, string>): AppConfig {
  const workdir = scratchDir('usr-src');
  cpSync(join(REPOSITORY_ROOT, '.hydra-conf'), join(workdir, '.hydra-conf'), { recursive: true });
  cpSync(join(REPOSITORY_ROOT, 'prompts'), join(workdir, 'prompts'), { recursive: true });
  return loadAppConfig(env, workdir);
}

// --- docker-compose.yml, rendered for each kind of .env ---

interface DotenvCase {
  name: string;
  file: string;
  /** The LLM the gateway's container must call. */
  llmBase: string;
}

const DOTENV_CASES: DotenvCase[] = [
  { name: 'the committed .env', file: '.env', llmBase: 'http://llm-simulator:9000/v1' },
  {
    name: "v1's README table, defaults (localhost Redis and LLM, BROKER_PASS=EMPTY)",
    file: 'test/fixtures/compose/v1-defaults.env',
    llmBase: 'http://llm-simulator:9000/v1',
  },
  {
    name: "v1's README table, example values (task-broker-redis, BROKER_PASS=password, vllm-backend)",
    file: 'test/fixtures/compose/v1-example.env',
    llmBase: 'http://vllm-backend:8000/v1',
  },
  {
    name: 'v1 with a hosted OpenAI-compatible API, an empty BROKER_PASS and HTTP_PORT=8080',
    file: 'test/fixtures/compose/v1-external-llm.env',
    llmBase: 'https://api.openai.com/v1',
  },
  {
    name: 'an LLM on the host written as 127.0.0.1, a password with punctuation',
    file: 'test/fixtures/compose/host-llm.env',
    llmBase: 'http://host.docker.internal:11434/v1',
  },
];

describe('docker-compose.yml, rendered by docker-compose config', () => {
  beforeAll(() => requireDockerCompose('docker-compose.yml'));

  describe.each(DOTENV_CASES)('with $name', ({ file, llmBase }) => {
    let compose: RenderedCompose;
    let gateway: ComposeService | undefined;
    let gatewayEnv: Record<string, string>;
    let dotenv: Record<string, string>;
    beforeAll(() => {
      compose = renderCompose(file);
      gateway = compose.services['llm-gateway'];
      gatewayEnv = environmentOf(gateway);
      dotenv = parseDotenv(readFileSync(join(REPOSITORY_ROOT, file)));
    });

    it('substitutes every variable without a warning', () => {
      expect(compose.stderr).not.toMatch(/WARN/i);
      expect(Object.keys(compose.services).sort()).toEqual(['llm-gateway', 'llm-simulator', 'redis', 'vllm']);
    });

    it('runs Redis with the password the gateway sends, or neither has one', () => {
      const redisArguments = redisServerArguments(compose);
      const config = gatewayConfigIn(runEntrypoint(gatewayEnv, AS_NODE).probe?.env ?? {});
      const given = dotenv.BROKER_PASS;
      const expected = given === undefined || given === '' || given === 'EMPTY' ? undefined : given;
      expect(config.redis.password).toBe(expected);
      expect(requiredPassword(redisArguments)).toBe(expected);
      expect(redisArguments).toEqual(
        expect.arrayContaining(['redis-server', '--maxmemory-policy', 'noeviction', '--appendonly', 'yes']),
      );
      expect(redisArguments[0]).toBe('redis-server');
      // Its health check authenticates exactly as the server requires.
      expect(redisHealthCheckPasses(compose, expected)).toBe(true);
      expect(redisHealthCheckPasses(compose, 'another-password')).toBe(false);
    });

    it('points the gateway at the compose Redis, whatever SERVICES_BROKER the .env names', () => {
      const config = gatewayConfigIn(runEntrypoint(gatewayEnv, AS_NODE).probe?.env ?? {});
      expect(namesOf(compose, 'redis')).toContain(new URL(config.redis.url).hostname);
      // v1's Redis service name reaches the same Redis, for containers written for v1.
      expect(namesOf(compose, 'redis')).toContain('task-broker-redis');
      expect(gateway?.depends_on?.redis?.condition).toBe('service_healthy');
    });

    it(`calls the LLM at ${llmBase}, never localhost inside the container`, () => {
      const run = runEntrypoint(gatewayEnv, AS_NODE);
      expect(run.status).toBe(0);
      const config = gatewayConfigIn(run.probe?.env ?? {});
      expect(config.llm.apiBase).toBe(llmBase);
      const host = new URL(config.llm.apiBase).hostname;
      expect(LOOPBACK_HOSTS).not.toContain(host);
      if (host === 'host.docker.internal') {
        expect(gateway?.extra_hosts).toContain('host.docker.internal:host-gateway');
      } else if (host === 'llm-simulator') {
        const simulatorPort = environmentOf(compose.services['llm-simulator']).FAKE_LLM_PORT;
        expect(new URL(config.llm.apiBase).port).toBe(simulatorPort);
      } else if (host === 'vllm-backend') {
        expect(namesOf(compose, 'vllm')).toContain(host);
      }
    });

    it('mounts prompts and .hydra-conf where the image reads them (WORKDIR /usr/src)', () => {
      const volumes = (gateway?.volumes ?? []).map((volume) => volume.replace(/:rw$/, ''));
      expect(volumes).toEqual(
        expect.arrayContaining([
          `${join(compose.dir, 'prompts')}:/usr/src/prompts`,
          `${join(compose.dir, '.hydra-conf')}:/usr/src/.hydra-conf`,
        ]),
      );
    });

    it("runs the image's entrypoint and command under an init, with the image's health check", () => {
      expect(gateway?.build?.target).toBe('gateway');
      expect(gateway?.command).toBeUndefined();
      expect(gateway?.entrypoint).toBeUndefined();
      expect(gateway?.user).toBeUndefined(); // starts as root: the entrypoint switches to USER_ID
      expect(gateway?.init).toBe(true);
      expect(gateway?.healthcheck).toBeUndefined();
    });

    it('publishes HTTP_PORT, the port the gateway listens on', () => {
      const port = dotenv.HTTP_PORT ?? '8000';
      expect(gatewayEnv.HTTP_PORT).toBe(port);
      expect(gateway?.ports).toEqual([{ published: Number(port), target: Number(port) }]);
    });

    it('passes USER_ID and GROUP_ID on, so the gateway runs as that user', () => {
      const run = runEntrypoint(gatewayEnv, AS_ROOT);
      expect(run.status).toBe(0);
      const uid = dotenv.USER_ID ?? '1000';
      const gid = dotenv.GROUP_ID ?? '1000';
      expect(run.calls.at(-1)).toMatch(
        new RegExp(`^setpriv --reuid=${uid} --regid=${gid} --clear-groups -- `),
      );
      expect(run.probe?.env.USER_ID).toBe(dotenv.USER_ID);
    });
  });

  describe('services besides the gateway', () => {
    let compose: RenderedCompose;
    beforeAll(() => {
      compose = renderCompose('.env');
    });

    it('builds the LLM simulator from its own image target, listening on the port the gateway calls', () => {
      const simulator = compose.services['llm-simulator'];
      expect(simulator?.build?.target).toBe('llm-simulator');
      expect(simulator?.profiles).toBeUndefined();
      expect(simulator?.init).toBe(true);
      const gatewayEnv = environmentOf(compose.services['llm-gateway']);
      expect(gatewayEnv.LLM_SIMULATOR_BASE).toBe(
        `http://llm-simulator:${environmentOf(simulator).FAKE_LLM_PORT ?? ''}/v1`,
      );
    });

    it('keeps vLLM optional, behind the vllm profile, also reachable as v1 named it (vllm-backend)', () => {
      const vllm = compose.services.vllm;
      expect(vllm?.profiles).toEqual(['vllm']);
      expect(namesOf(compose, 'vllm')).toEqual(expect.arrayContaining(['vllm', 'vllm-backend']));
      expect(vllm?.command).toEqual(expect.arrayContaining(['--served-model-name', 'meta-llama-31-8b-it']));
    });

    it('publishes no Redis port (it is reached on the compose network)', () => {
      expect(compose.services.redis?.ports).toBeUndefined();
    });
  });
});

// --- scripts/docker-entrypoint.sh ---

describe('the image entrypoint (scripts/docker-entrypoint.sh)', () => {
  it('is a POSIX shell script, executable', () => {
    expect(spawnSync('sh', ['-n', ENTRYPOINT]).status).toBe(0);
    expect(statSync(ENTRYPOINT).mode & 0o111).toBe(0o111);
    expect(read('scripts/docker-entrypoint.sh').split('\n')[0]).toBe('#!/bin/sh');
  });

  it('started as root without USER_ID, runs the command as the image user (node), through exec', () => {
    const run = runEntrypoint({}, AS_ROOT);
    expect(run.status).toBe(0);
    expect(run.calls).toHaveLength(1);
    expect(run.calls[0]).toMatch(/^setpriv --reuid=1000 --regid=1000 --clear-groups -- /);
    expect(run.probe?.env.HOME).toBe(join(fakeSystem.dir, 'home', 'node'));
    // Every step exec'd: the command is the entrypoint's process, so it receives SIGTERM itself.
    expect(run.probe?.pid).toBe(run.pid);
  });

  it("started as root with v1's USER_ID=33 GROUP_ID=33, runs as 33:33 and adds no entry (www-data exists)", () => {
    const run = runEntrypoint({ USER_ID: '33', GROUP_ID: '33' }, AS_ROOT);
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([expect.stringMatching(/^setpriv --reuid=33 --regid=33 --clear-groups -- /)]);
  });

  it('adds the group and user that do not exist yet, then runs as them', () => {
    const run = runEntrypoint({ USER_ID: '4242', GROUP_ID: '4343' }, AS_ROOT);
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([
      'groupadd --gid 4343 llm-gateway-4343',
      'useradd --uid 4242 --gid 4343 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin --no-log-init llm-gateway-4242',
      expect.stringMatching(/^setpriv --reuid=4242 --regid=4343 --clear-groups -- /),
    ]);
    expect(run.probe?.env.HOME).toBe('/tmp');
    expect(run.probe?.pid).toBe(run.pid);
  });

  it('USER_ID alone keeps the image group', () => {
    const run = runEntrypoint({ USER_ID: '33' }, AS_ROOT);
    expect(run.calls.at(-1)).toMatch(/^setpriv --reuid=33 --regid=1000 /);
  });

  it('started as another user (docker run --user, runAsUser), keeps it and says USER_ID is ignored', () => {
    const run = runEntrypoint({ USER_ID: '33', GROUP_ID: '33' }, AS_NODE);
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([]);
    expect(run.stderr).toMatch(/^docker-entrypoint: USER_ID\/GROUP_ID ignored: .*uid 1000/m);
    expect(run.probe?.pid).toBe(run.pid);
    expect(runEntrypoint({}, AS_NODE).stderr).toBe('');
  });

  it('refuses a USER_ID or GROUP_ID that is not a number, in one line naming it', () => {
    for (const name of ['USER_ID', 'GROUP_ID']) {
      const run = runEntrypoint({ [name]: 'www-data' }, AS_ROOT);
      expect(run.status).not.toBe(0);
      expect(run.probe).toBeUndefined();
      expect(run.stderr.trim().split('\n')).toEqual([
        `docker-entrypoint: ${name} must be a number (a uid or gid), got "www-data"`,
      ]);
    }
  });

  describe('OPENAI_API_BASE naming localhost', () => {
    const COMPOSE_SETTINGS = {
      LLM_SIMULATOR_BASE: 'http://llm-simulator:9000/v1',
      LOOPBACK_LLM_HOST: 'host.docker.internal',
    };
    it.each([
      ['http://localhost:9000/v1', 'http://llm-simulator:9000/v1'],
      ['http://127.0.0.1:9000/v1', 'http://llm-simulator:9000/v1'],
      ['http://localhost:11434/v1', 'http://host.docker.internal:11434/v1'],
      ['http://127.0.0.1:8000/v1/', 'http://host.docker.internal:8000/v1/'],
      ['https://localhost/v1', 'https://host.docker.internal/v1'],
      ['http://[::1]:8001/v1', 'http://host.docker.internal:8001/v1'],
      ['http://0.0.0.0:8001', 'http://host.docker.internal:8001'],
    ])('in compose, %s becomes %s, and says so', (given, expected) => {
      const run = runEntrypoint({ ...COMPOSE_SETTINGS, OPENAI_API_BASE: given }, AS_NODE);
      expect(run.probe?.env.OPENAI_API_BASE).toBe(expected);
      expect(run.stderr).toContain(
        `docker-entrypoint: OPENAI_API_BASE=${given} names this container itself; using ${expected}`,
      );
    });

    it.each([
      'http://vllm:8000/v1',
      'https://api.openai.com/v1',
      'http://localhost.example.org:9000/v1',
      'http://host.docker.internal:11434/v1',
    ])('in compose, %s is kept', (given) => {
      const run = runEntrypoint({ ...COMPOSE_SETTINGS, OPENAI_API_BASE: given }, AS_NODE);
      expect(run.probe?.env.OPENAI_API_BASE).toBe(given);
      expect(run.stderr).toBe('');
    });

    it('outside compose (docker run, Kubernetes), a localhost base is kept: a sidecar may serve it', () => {
      const run = runEntrypoint({ OPENAI_API_BASE: 'http://localhost:9000/v1' }, AS_NODE);
      expect(run.probe?.env.OPENAI_API_BASE).toBe('http://localhost:9000/v1');
      expect(run.stderr).toBe('');
      expect(runEntrypoint({}, AS_NODE).probe?.env.OPENAI_API_BASE).toBeUndefined();
    });
  });
});

// --- Dockerfile and .dockerignore ---

/** The Dockerfile's stages by name, each its text from its FROM line on. */
function dockerfileStages(dockerfile: string): Map<string, string> {
  const stages = new Map<string, string>();
  for (const part of dockerfile.split(/^(?=FROM )/m).filter((text) => text.startsWith('FROM '))) {
    const name = /^FROM \S+ AS (\S+)/.exec(part)?.[1];
    stages.set(name ?? `#${String(stages.size)}`, part);
  }
  return stages;
}

/** Whether .dockerignore leaves `path` out of the build context (its rules: last match wins). */
function isIgnoredByDocker(path: string, dockerignore: string): boolean {
  let ignored = false;
  for (const line of dockerignore.split('\n').map((text) => text.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const isException = line.startsWith('!');
    const pattern = (isException ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
    const source = pattern
      .split('**')
      .map((part) =>
        part
          .split('*')
          .map((piece) => piece.replace(/[.+^${}()|[\]\\?]/g, '\\$&'))
          .join('[^/]*'),
      )
      .join('.*');
    if (new RegExp(`^${source}(/.*)?$`).test(path)) ignored = !isException;
  }
  return ignored;
}

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfileStages(dockerfile);
  const gatewayStage = stages.get('gateway') ?? '';
  const simulatorStage = stages.get('llm-simulator') ?? '';

  it('builds the gateway by default (last stage) and the LLM simulator as another target', () => {
    expect([...stages.keys()]).toEqual(['build', 'llm-simulator', 'gateway']);
    const compose = load(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
    expect(compose.services['llm-gateway']?.build?.target).toBe('gateway');
    expect(compose.services['llm-simulator']?.build?.target).toBe('llm-simulator');
  });

  it('starts node dist/main.js through the entrypoint, in exec form, never through npm', () => {
    expect(gatewayStage).toMatch(/^ENTRYPOINT \["docker-entrypoint.sh"\]$/m);
    expect(gatewayStage).toMatch(/^CMD \["node", "dist\/main.js"\]$/m);
    expect(gatewayStage).toMatch(
      /^COPY scripts\/docker-entrypoint.sh \/usr\/local\/bin\/docker-entrypoint.sh$/m,
    );
    expect(dockerfile).not.toMatch(/^(CMD|ENTRYPOINT) .*npm/m);
    expect(dockerfile).not.toMatch(/^(CMD|ENTRYPOINT) [^[]/m);
  });

  it('works in /usr/src, with the sample .hydra-conf and prompts that compose mounts over', () => {
    expect(gatewayStage).toMatch(/^WORKDIR \/usr\/src$/m);
    expect(gatewayStage).toMatch(/^COPY \.hydra-conf \.\/\.hydra-conf$/m);
    expect(gatewayStage).toMatch(/^COPY prompts \.\/prompts$/m);
  });

  it('is multi-stage, with production packages only in the images', () => {
    expect(stages.get('build')).toContain('RUN npm prune --omit=dev');
    for (const stage of [gatewayStage, simulatorStage]) {
      expect(stage).toContain('COPY --from=build /usr/src/node_modules ./node_modules');
      expect(stage).not.toMatch(/^RUN npm/m);
    }
    expect(simulatorStage).toMatch(/^USER node$/m);
  });

  it.each(['build', 'build:support'])(
    'copies the files `npm run %s` reads into the build stage before running it',
    (script) => {
      const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
      // Scripts, tsconfig files, and the folders `tsc -p <folder>` and `vite build <folder>` read.
      const inputs =
        (packageJson.scripts[script] ?? '').match(
          /(scripts\/\S+|tsconfig[\w.]*\.json|(?<=tsc -p )(?!tsconfig)[\w./-]+|(?<=vite build )[\w./-]+)/g,
        ) ?? [];
      expect(inputs.length).toBeGreaterThan(0);
      const buildStage = stages.get('build') ?? '';
      const beforeRun = buildStage.slice(0, buildStage.indexOf(`RUN npm run ${script}\n`));
      expect(beforeRun).not.toBe(buildStage);
      const copied = [...beforeRun.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((match) =>
        (match[1] ?? '').split(/\s+/).slice(0, -1),
      );
      for (const input of inputs) {
        const isCopied = copied.some((source) => input === source || input.startsWith(`${source}/`));
        expect([input, isCopied]).toEqual([input, true]);
      }
    },
  );

  it('copies only what the build context holds (.dockerignore), and never .env', () => {
    const dockerignore = read('.dockerignore');
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((match) =>
      (match[1] ?? '').split(/\s+/).slice(0, -1),
    );
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect([source, existsSync(join(REPOSITORY_ROOT, source))]).toEqual([source, true]);
      expect([source, isIgnoredByDocker(source, dockerignore)]).toEqual([source, false]);
    }
    for (const secretOrBulk of ['.env', '.env.local', 'node_modules', '.git', 'test/fixtures/transcripts']) {
      expect([secretOrBulk, isIgnoredByDocker(secretOrBulk, dockerignore)]).toEqual([secretOrBulk, true]);
    }
  });

  describe('health check: GET /healthcheck on HTTP_PORT, one check for every role', () => {
    const healthCheck = /^HEALTHCHECK .*\\\n\s+CMD node -e "(.+)"$/m.exec(gatewayStage)?.[1] ?? '';
    let server: Server;
    let status = 200;
    const paths: string[] = [];
    beforeAll(async () => {
      server = createServer((request, response) => {
        paths.push(request.url ?? '');
        response.writeHead(request.url === '/healthcheck' ? status : 404).end('"1"');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const runCheck = (port: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ['-e', healthCheck], {
          env: { PATH: SHELL_PATH, HTTP_PORT: String(port) },
          stdio: 'ignore',
        });
        child.once('exit', (code) => resolve(code));
      });

    it('passes when the gateway answers 200, fails otherwise', async () => {
      expect(healthCheck).toContain('/healthcheck');
      const { port } = server.address() as AddressInfo;
      status = 200;
      expect(await runCheck(port)).toBe(0);
      expect(paths).toEqual(['/healthcheck']);
      status = 503;
      expect(await runCheck(port)).toBe(1);
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      expect(await runCheck(closedPort)).toBe(1);
    });
  });
});

describe('the LLM simulator image target (scripts/docker-llm-simulator.js)', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('is laid out as the Dockerfile copies it: build:support output under .local/support', () => {
    const support = JSON.parse(read('tsconfig.support.json')) as { compilerOptions: { outDir: string } };
    expect(support.compilerOptions.outDir).toBe('./.local/support');
    const simulatorStage = dockerfileStages(read('Dockerfile')).get('llm-simulator') ?? '';
    expect(simulatorStage).toContain('COPY --from=build /usr/src/.local/support ./.local/support');
    expect(simulatorStage).toContain('COPY scripts/docker-llm-simulator.js ./scripts/');
    expect(simulatorStage).toMatch(/^CMD \["node", "scripts\/docker-llm-simulator.js"\]$/m);
    expect(read('scripts/docker-llm-simulator.js')).toContain(
      "path.join(__dirname, '..', '.local', 'support', 'test', 'support', 'llm-simulator.js')",
    );
  });

  it('serves the OpenAI API on every interface, so that another container reaches it, and stops on SIGTERM', async () => {
    // The image's /usr/src: node_modules, .local/support (npm run build:support), scripts/.
    const workdir = scratchDir('simulator');
    const compiled = spawnSync(
      process.execPath,
      [
        join(REPOSITORY_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        'tsconfig.support.json',
        '--outDir',
        join(workdir, '.local', 'support'),
      ],
      { cwd: REPOSITORY_ROOT, encoding: 'utf8' },
    );
    expect(compiled.stdout + compiled.stderr).toBe('');
    mkdirSync(join(workdir, 'scripts'));
    copyFileSync(
      join(REPOSITORY_ROOT, 'scripts', 'docker-llm-simulator.js'),
      join(workdir, 'scripts', 'docker-llm-simulator.js'),
    );
    symlinkSync(join(REPOSITORY_ROOT, 'node_modules'), join(workdir, 'node_modules'));

    const port = await freePort();
    const simulator = spawn(process.execPath, ['scripts/docker-llm-simulator.js'], {
      cwd: workdir,
      env: { PATH: SHELL_PATH, FAKE_LLM_PORT: String(port), FAKE_LLM_LATENCY_MS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = simulator;
    let output = '';
    simulator.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    simulator.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 20_000;
    while (!output.includes('listening') && Date.now() < deadline && simulator.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(output).toContain(`LLM SIMULATOR (not a real model) listening on 0.0.0.0:${String(port)}`);

    // An address of this machine other than loopback, as a container on the compose network uses.
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address?.family === 'IPv4' && !address.internal)?.address;
    for (const host of [external, '127.0.0.1'].filter((value) => value !== undefined)) {
      const response = await fetch(`http://${host}:${String(port)}/v1/models`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { data: { id: string }[] };
      expect(body.data.map((model) => model.id)).toContain('meta-llama-31-8b-it');
    }

    const exited = new Promise<number | null>((resolve) => simulator.once('exit', (code) => resolve(code)));
    simulator.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// --- .env, .env.example, README ---

describe('documented variables', () => {
  // The image's own variables (read by its entrypoint, not by the gateway) are documented too.
  it.each([...Object.keys(VARIABLES), 'USER_ID', 'GROUP_ID'])(
    '%s is documented in .env.example and the README',
    (name) => {
      expect(read('.env.example')).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
      expect(read('README.md')).toContain(`\`${name}\``);
    },
  );
});

describe('the committed .env', () => {
  const dotenv = parseDotenv(read('.env'));

  it('holds no secret', () => {
    expect(read('.env')).toMatch(/^OPENAI_API_TOKEN=EMPTY$/m);
    expect(read('.env')).toMatch(/^BROKER_PASS=EMPTY$/m);
    expect(dotenv.API_KEYS ?? '').toBe('');
  });

  it('leaves OPENAI_API_BASE unset: npm run local uses its default (the simulator on localhost:9000), compose its simulator service', () => {
    expect(dotenv).not.toHaveProperty('OPENAI_API_BASE');
    expect(read('scripts/local.js')).toContain("const DEFAULT_LLM_BASE = 'http://localhost:9000/v1';");
    expect(VARIABLES.OPENAI_API_BASE.defaultValue).toBe('http://localhost:9000/v1');
  });

  it('leaves SERVICES_BROKER unset: npm run local starts a Redis of its own (set, it would mean sharing one on purpose)', () => {
    expect(dotenv).not.toHaveProperty('SERVICES_BROKER');
    expect(VARIABLES.SERVICES_BROKER.defaultValue).toBe('redis://localhost:6379/0');
  });

  it('is valid for the gateway as it is', () => {
    const workdir = scratchDir('dotenv');
    cpSync(join(REPOSITORY_ROOT, '.hydra-conf'), join(workdir, '.hydra-conf'), { recursive: true });
    copyFileSync(join(REPOSITORY_ROOT, '.env'), join(workdir, '.env'));
    const config = loadAppConfig({}, workdir);
    expect(config.llm.apiBase).toBe('http://localhost:9000/v1');
    expect(config.redis.password).toBeUndefined();
  });
});
