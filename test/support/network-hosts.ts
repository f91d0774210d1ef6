import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ProgramLauncher } from './processes';

/*
 * Separate hosts on one machine: a network namespace per host, each with one interface (`eth0`)
 * on a private /24, joined by a bridge in a namespace of its own (the switch). This process (the
 * test) is a host on the link too, through one veth pair whose outer end stays here. Hosts share
 * the file system and the process table; only the network is theirs. Needs root and Debian's
 * iproute2 (`ip`).
 */

/** One host: a network namespace with one interface on the link. */
export interface NetworkHost {
  name: string;
  namespace: string;
  address: string;
  /** Runs a program inside this host (`ip netns exec`, which execs it: the child's pid is the program's). */
  launch: ProgramLauncher;
  /**
   * Takes this host's interface down, as a pulled cable does: its processes keep running and its
   * connections stay open, but nothing reaches the link any more, and nothing is reset.
   */
  cutLink(): void;
}

export interface PrivateNetwork {
  /** This process's address on the link: a server bound to it is reachable from every host. */
  localAddress: string;
  host(name: string): NetworkHost;
  /**
   * Deletes what `createPrivateNetwork` created, and only that: the local veth end and the
   * namespaces. Stop the processes running inside the hosts first. Tries everything, then throws
   * naming what could not be deleted.
   */
  destroy(): void;
}

/** Why this machine cannot create a PrivateNetwork, or undefined when it can. */
export function privateNetworkUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces exist on Linux only';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  if (spawnSync('ip', ['-V']).error) return "`ip` is missing (Debian's iproute2)";
  const probe = `${namePrefix()}-probe`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (added.status !== 0) return `\`ip netns add\` failed: ${added.stderr.trim()}`;
  try {
    const veth = spawnSync(
      'ip',
      ['-n', probe, 'link', 'add', 'name', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1'],
      {
        encoding: 'utf8',
      },
    );
    if (veth.status !== 0) return `cannot create a veth pair: ${veth.stderr.trim()}`;
    return undefined;
  } finally {
    spawnSync('ip', ['netns', 'delete', probe]);
  }
}

/**
 * Creates one host per name on a fresh private link (10.77.<n>.0/24, <n> not yet in use on this
 * machine; this process is .1, the hosts .2, .3, ... in order). Names carry this process's pid,
 * so parallel runs never collide. On failure, deletes what it had created before throwing.
 */
export function createPrivateNetwork(hostNames: readonly string[]): PrivateNetwork {
  const prefix = namePrefix();
  const createdNamespaces: string[] = [];
  // An interface name has at most 15 characters: `lgw` and a pid (at most 7 digits) fit.
  const localInterface = `lgw${process.pid}`;
  let isLocalInterfaceCreated = false;

  const destroy = () => {
    const failures: string[] = [];
    const attempt = (args: string[]) => {
      const result = spawnSync('ip', args, { encoding: 'utf8' });
      if (result.status !== 0) failures.push(`ip ${args.join(' ')}: ${result.stderr.trim()}`);
    };
    if (isLocalInterfaceCreated) attempt(['link', 'delete', localInterface]);
    isLocalInterfaceCreated = false;
    for (const namespace of createdNamespaces.splice(0).reverse()) attempt(['netns', 'delete', namespace]);
    if (failures.length > 0) throw new Error(`could not delete: ${failures.join('; ')}`);
  };

  try {
    const subnet = unusedSubnet();
    const switchNamespace = `${prefix}-switch`;
    ip('netns', 'add', switchNamespace);
    createdNamespaces.push(switchNamespace);
    ip('-n', switchNamespace, 'link', 'add', 'name', 'br0', 'type', 'bridge');
    ip('-n', switchNamespace, 'link', 'set', 'br0', 'up');

    const hosts = new Map<string, NetworkHost>();
    hostNames.forEach((name, index) => {
      const namespace = `${prefix}-${name}`;
      const address = `${subnet}.${index + 2}`;
      ip('netns', 'add', namespace);
      createdNamespaces.push(namespace);
      const port = `port${index}`;
      ip(
        '-n',
        switchNamespace,
        'link',
        'add',
        'name',
        port,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        namespace,
      );
      ip('-n', switchNamespace, 'link', 'set', port, 'master', 'br0', 'up');
      ip('-n', namespace, 'address', 'add', `${address}/24`, 'dev', 'eth0');
      ip('-n', namespace, 'link', 'set', 'eth0', 'up');
      ip('-n', namespace, 'link', 'set', 'lo', 'up');
      hosts.set(name, {
        name,
        namespace,
        address,
        launch: (command, args, options): ChildProcess =>
          spawn('ip', ['netns', 'exec', namespace, command, ...args], options),
        cutLink: () => ip('-n', namespace, 'link', 'set', 'eth0', 'down'),
      });
    });

    const localAddress = `${subnet}.1`;
    ip(
      'link',
      'add',
      'name',
      localInterface,
      'type',
      'veth',
      'peer',
      'name',
      'uplink',
      'netns',
      switchNamespace,
    );
    isLocalInterfaceCreated = true;
    ip('-n', switchNamespace, 'link', 'set', 'uplink', 'master', 'br0', 'up');
    ip('address', 'add', `${localAddress}/24`, 'dev', localInterface);
    ip('link', 'set', localInterface, 'up');

    return {
      localAddress,
      host(name) {
        const host = hosts.get(name);
        if (!host) throw new Error(`no host named ${name} on this network`);
        return host;
      },
      destroy,
    };
  } catch (error) {
    try {
      destroy();
    } catch (cleanupError) {
      process.stderr.write(`${String(cleanupError)}\n`);
    }
    throw error;
  }
}

function namePrefix(): string {
  return `lgw-${process.pid}`;
}

/** The first 10.77.<n> prefix, from one derived from the pid, that no address or route here uses. */
function unusedSubnet(): string {
  const inUse = ip('-4', '-o', 'address', 'show') + ip('-4', 'route', 'show');
  for (let offset = 0; offset < 250; offset += 1) {
    const prefix = `10.77.${((process.pid + offset) % 250) + 1}`;
    if (!inUse.includes(`${prefix}.`)) return prefix;
  }
  throw new Error('every 10.77.<n>.0/24 subnet is in use on this machine');
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
