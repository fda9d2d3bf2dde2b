// The demo's sites as Linux network namespaces on one bridge (10.213.<subnet>.0/24): the root
// namespace is 10.213.<subnet>.1 on the bridge, site n is 10.213.<subnet>.<n+2> in its own
// namespace. Sites reach each other over the bridge, the operator (root namespace) reaches
// them directly, and the agents reach the apiserver through a relay on the bridge address.
// Killing a site's network sets its bridge port down. Names are derived from the subnet only,
// so `--down` can remove what an earlier run left without any record of it.
// The far link (to the last site) gets a delay: `tc netem` where the kernel has sch_netem,
// else a user-space delay relay in front of the far agent's gRPC port.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Site {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  /** The site's port on the bridge, in the root namespace. */
  readonly rootLink: string;
  readonly nsLink: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
}

export interface SiteNetwork {
  readonly bridge: string;
  readonly bridgeIp: string;
  readonly sites: readonly Site[];
  /** Adds a one-way delay to both directions of a site's link with netem; throws without sch_netem. */
  netemDelay(site: Site, delayMs: number): Promise<void>;
  destroy(): Promise<void>;
}

async function ip(args: readonly string[]): Promise<void> {
  await run('ip', [...args], { timeout: 10_000 });
}

function names(subnet: number, siteNames: readonly string[]): { bridge: string; sites: Array<{ name: string; netns: string; rootLink: string; nsLink: string }> } {
  return {
    bridge: `bkd${subnet}br`,
    sites: siteNames.map((name, index) => ({
      name, netns: `bkd${subnet}-${name}`, rootLink: `bkd${subnet}s${index}`, nsLink: `bkd${subnet}s${index}n`,
    })),
  };
}

/** True when this process may create network namespaces (root with iproute2). */
export async function canUseNetns(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const probe = `bkd-probe-${process.pid}`;
  try {
    await ip(['netns', 'add', probe]);
    await ip(['netns', 'del', probe]);
    return true;
  } catch {
    return false;
  }
}

/** Removes the bridge, links and namespaces of `subnet` that exist; says what it removed. */
export async function removeSiteNetwork(subnet: number, siteNames: readonly string[]): Promise<string[]> {
  const n = names(subnet, siteNames);
  const removed: string[] = [];
  for (const site of n.sites) {
    if (await ip(['link', 'del', site.rootLink]).then(() => true, () => false)) removed.push(`link ${site.rootLink}`);
    if (await ip(['netns', 'del', site.netns]).then(() => true, () => false)) removed.push(`netns ${site.netns}`);
  }
  if (await ip(['link', 'del', n.bridge]).then(() => true, () => false)) removed.push(`bridge ${n.bridge}`);
  return removed;
}

export async function createSiteNetwork(subnet: number, siteNames: readonly string[]): Promise<SiteNetwork> {
  const n = names(subnet, siteNames);
  const prefix = `10.213.${subnet}`;
  await removeSiteNetwork(subnet, siteNames);
  const sites: Site[] = [];
  const destroy = async (): Promise<void> => {
    await removeSiteNetwork(subnet, siteNames);
  };
  try {
    await ip(['link', 'add', n.bridge, 'type', 'bridge']);
    await ip(['addr', 'add', `${prefix}.1/24`, 'dev', n.bridge]);
    await ip(['link', 'set', n.bridge, 'up']);
    for (const [index, site] of n.sites.entries()) {
      const address = `${prefix}.${index + 2}`;
      await ip(['netns', 'add', site.netns]);
      await ip(['link', 'add', site.rootLink, 'type', 'veth', 'peer', 'name', site.nsLink]);
      await ip(['link', 'set', site.nsLink, 'netns', site.netns]);
      await ip(['link', 'set', site.rootLink, 'master', n.bridge]);
      await ip(['link', 'set', site.rootLink, 'up']);
      for (const args of [['addr', 'add', `${address}/24`, 'dev', site.nsLink], ['link', 'set', site.nsLink, 'up'], ['link', 'set', 'lo', 'up'], ['route', 'add', 'default', 'via', `${prefix}.1`]]) {
        await ip(['netns', 'exec', site.netns, 'ip', ...args]);
      }
      sites.push({
        ...site, ip: address,
        cut: () => ip(['link', 'set', site.rootLink, 'down']),
        restore: async () => {
          await ip(['link', 'set', site.rootLink, 'up']);
          await ip(['netns', 'exec', site.netns, 'ip', 'route', 'replace', 'default', 'via', `${prefix}.1`]).catch(() => undefined);
        },
      });
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    bridge: n.bridge, bridgeIp: `${prefix}.1`, sites,
    netemDelay: async (site, delayMs) => {
      await run('tc', ['qdisc', 'add', 'dev', site.rootLink, 'root', 'netem', 'delay', `${delayMs}ms`], { timeout: 10_000 });
      await run('ip', ['netns', 'exec', site.netns, 'tc', 'qdisc', 'add', 'dev', site.nsLink, 'root', 'netem', 'delay', `${delayMs}ms`], { timeout: 10_000 });
    },
    destroy,
  };
}
