import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { VARIABLES } from '../src/config/parse-app-config.util';
import { REPOSITORY_ROOT } from './support/gateway';

const read = (file: string) => readFileSync(join(REPOSITORY_ROOT, file), 'utf8');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  profiles?: string[];
  depends_on?: Record<string, unknown>;
}

describe('docker-compose.yml (no Docker engine here: its content is checked)', () => {
  const compose = load(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
  const gateway = compose.services['llm-gateway'];
  const redis = compose.services.redis;

  it('mounts prompts and .hydra-conf where the image reads them (WORKDIR /usr/src)', () => {
    expect(gateway?.volumes).toEqual(
      expect.arrayContaining(['./prompts:/usr/src/prompts', './.hydra-conf:/usr/src/.hydra-conf']),
    );
    expect(read('Dockerfile')).toMatch(/^WORKDIR \/usr\/src$/m);
  });

  it('points the gateway at the compose Redis with its password, and publishes HTTP_PORT', () => {
    expect(gateway?.environment).toMatchObject({
      SERVICES_BROKER: 'redis://redis:6379/0',
      BROKER_PASS: '${BROKER_PASS:-change-me}',
    });
    expect(gateway?.ports).toEqual(['${HTTP_PORT:-8000}:${HTTP_PORT:-8000}']);
    expect(gateway?.depends_on).toHaveProperty('redis');
  });

  it('runs Redis with a password and noeviction (BullMQ needs every key kept)', () => {
    const command = redis?.command?.join(' ') ?? '';
    expect(command).toContain('--requirepass ${BROKER_PASS:-change-me}');
    expect(command).toContain('--maxmemory-policy noeviction');
  });

  it('keeps vLLM optional, behind a profile', () => {
    expect(compose.services.vllm?.profiles).toEqual(['vllm']);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

  it('starts with the same start:prod command the start-up tests run (dist/main.js)', () => {
    expect(dockerfile).toMatch(/^CMD \["npm", "run", "start:prod"\]$/m);
    expect(packageJson.scripts['start:prod']).toBe('node dist/main.js');
  });

  it('is multi-stage, installs production packages only, runs as non-root, with a health check', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toContain('npm ci --omit=dev');
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n.*\/healthcheck/m);
  });
});

describe('documented variables', () => {
  it.each(Object.keys(VARIABLES))('%s is documented in .env.example and the README', (name) => {
    expect(read('.env.example')).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
    expect(read('README.md')).toContain(`\`${name}\``);
  });

  it('.env holds no secret', () => {
    const dotenv = read('.env');
    expect(dotenv).toMatch(/^OPENAI_API_TOKEN=EMPTY$/m);
    expect(dotenv).toMatch(/^BROKER_PASS=EMPTY$/m);
    expect(dotenv).not.toMatch(/^API_KEYS=./m);
  });
});
