import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { findFreePort, type RedisServerHandle, startRedisServer } from './redis-server';

export const MASTER_NAME = 'mymaster';

/** A replicated Redis watched by Sentinels, all on loopback ports, in one temporary folder. */
export interface SentinelSetHandle {
  master: RedisServerHandle;
  replica: RedisServerHandle;
  sentinelPorts: number[];
  /** `redis+sentinel://127.0.0.1:p1,.../mymaster` */
  url: string;
  /** The port of the master the Sentinels name now. */
  currentMasterPort(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A master, one replica and `sentinelCount` Sentinels (quorum 2) tuned for a quick failover:
 * `down-after-milliseconds 1000`, `failover-timeout 3000`, `parallel-syncs 1`. Each Sentinel
 * gets its own config file (Sentinel rewrites it). Resolves once the replica is in sync.
 */
export async function startSentinelSet(sentinelCount = 3): Promise<SentinelSetHandle> {
  const folder = mkdtempSync(join(tmpdir(), 'sentinel-'));
  const master = await startRedisServer(['--dir', folder, '--dbfilename', 'master.rdb']);
  const replica = await startRedisServer([
    '--dir',
    folder,
    '--dbfilename',
    'replica.rdb',
    '--replicaof',
    '127.0.0.1',
    String(master.port),
  ]);
  await waitUntil(async () => (await replicaCount(master.port)) >= 1, 10_000, 'the replica to sync');
  const sentinels: ChildProcess[] = [];
  const sentinelPorts: number[] = [];
  for (let index = 0; index < sentinelCount; index += 1) {
    const port = await findFreePort();
    const file = join(folder, `sentinel-${index}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${folder}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 3000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    sentinels.push(spawn('redis-sentinel', [file], { stdio: 'ignore' }));
    sentinelPorts.push(port);
  }
  const askSentinel = async (port: number) => {
    const sentinel = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await sentinel.connect();
      const address = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as
        string[] | null;
      return Number(address?.[1] ?? 0);
    } finally {
      sentinel.disconnect();
    }
  };
  for (const port of sentinelPorts) {
    await waitUntil(
      async () => (await askSentinel(port).catch(() => 0)) === master.port,
      10_000,
      'the Sentinels',
    );
  }
  return {
    master,
    replica,
    sentinelPorts,
    url: `redis+sentinel://${sentinelPorts.map((port) => `127.0.0.1:${port}`).join(',')}/${MASTER_NAME}`,
    currentMasterPort: () => askSentinel(sentinelPorts[0] ?? 0),
    async stop() {
      for (const sentinel of sentinels) {
        if (sentinel.exitCode === null && sentinel.signalCode === null) {
          const exited = new Promise((resolve) => sentinel.once('exit', resolve));
          sentinel.kill('SIGTERM');
          await exited;
        }
      }
      await Promise.all([master.stop(), replica.stop()]);
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

async function replicaCount(port: number): Promise<number> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const info = await client.info('replication');
    const online = info.match(/^slave\d+:.*state=online/gm);
    return online?.length ?? 0;
  } catch {
    return 0;
  } finally {
    client.disconnect();
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
