// Test hosts as Linux network namespaces, so a partition is a real partition: each host gets
// its own namespace, joined to the root namespace by a veth pair (10.213.<n>.1 on the root
// side, 10.213.<n>.2 inside), with the root namespace routing between them. Cutting a host
// sets its root-side link down: every peer, and the test itself, loses it at once. Addresses
// are on links this run created, never routed off the machine. Needs root and iproute2; where
// either is missing, callers fall back to loopback and say so.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestHost {
  readonly name: string;
  readonly netns: string;
  /** The host's address, inside its namespace. */
  readonly ip: string;
  /** The root namespace's end of the host's link. */
  readonly rootIp: string;
  readonly hostLink: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
}

export interface TestNetwork {
  readonly hosts: readonly TestHost[];
  destroy(): Promise<void>;
}

async function ip(args: string[]): Promise<void> {
  await run('ip', args, { timeout: 10_000 });
}

/** True when this process may create network namespaces (root with iproute2). */
export async function canUseNetns(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const probe = `bk-probe-${process.pid}`;
  try {
    await ip(['netns', 'add', probe]);
    await ip(['netns', 'del', probe]);
    return true;
  } catch {
    return false;
  }
}

export async function createTestNetwork(names: readonly string[], subnetBase: number): Promise<TestNetwork> {
  const tag = (process.pid % 10_000).toString(36);
  const forwardPath = '/proc/sys/net/ipv4/ip_forward';
  const forwardBefore = (await readFile(forwardPath, 'utf8')).trim();
  await writeFile(forwardPath, '1');
  const hosts: TestHost[] = [];
  const destroy = async (): Promise<void> => {
    for (const host of hosts) {
      await ip(['link', 'del', host.hostLink]).catch(() => undefined);
      await ip(['netns', 'del', host.netns]).catch(() => undefined);
    }
    await writeFile(forwardPath, forwardBefore).catch(() => undefined);
  };
  try {
    for (const [index, name] of names.entries()) {
      const subnet = `10.213.${subnetBase + index}`;
      const netns = `bk-${tag}-${name}`.slice(0, 40);
      const hostLink = `bk${tag}h${index}`.slice(0, 15);
      const nsLink = `bk${tag}n${index}`.slice(0, 15);
      await ip(['netns', 'add', netns]);
      await ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nsLink]);
      await ip(['link', 'set', nsLink, 'netns', netns]);
      await ip(['addr', 'add', `${subnet}.1/24`, 'dev', hostLink]);
      await ip(['link', 'set', hostLink, 'up']);
      for (const args of [['addr', 'add', `${subnet}.2/24`, 'dev', nsLink], ['link', 'set', nsLink, 'up'], ['link', 'set', 'lo', 'up'], ['route', 'add', 'default', 'via', `${subnet}.1`]]) {
        await ip(['netns', 'exec', netns, 'ip', ...args]);
      }
      hosts.push({
        name, netns, ip: `${subnet}.2`, rootIp: `${subnet}.1`, hostLink,
        cut: () => ip(['link', 'set', hostLink, 'down']),
        restore: async () => {
          await ip(['link', 'set', hostLink, 'up']);
          // Bringing the link up drops the routes through it in the namespace; put them back.
          await ip(['netns', 'exec', netns, 'ip', 'route', 'replace', 'default', 'via', `${subnet}.1`]).catch(() => undefined);
        },
      });
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return { hosts, destroy };
}

/**
 * One network namespace per name where the machine allows it, else none (loopback); either
 * way the choice is printed, so a test's output says which it ran on.
 */
export async function testHostsOrLoopback(names: readonly string[], subnetBase: number): Promise<TestNetwork | undefined> {
  if (!(await canUseNetns())) {
    process.stdout.write('agents on loopback ports (not root, or no network namespaces here)\n');
    return undefined;
  }
  const network = await createTestNetwork(names, subnetBase);
  process.stdout.write(`agents in network namespaces: ${network.hosts.map((h) => `${h.name}=${h.ip}`).join(', ')}\n`);
  return network;
}
