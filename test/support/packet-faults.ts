// Real packet faults on a test host's link (netns.ts), made by the kernel inside the host's
// namespace, for kernels without sch_netem. Nothing here touches the root namespace, so
// deleting a namespace also deletes every rule a crashed run left in it.
// - loss: iptables DROP (statistic match) on the host's INPUT for packets from the peer. Not
//   on OUTPUT: a locally sent packet dropped there is reported to TCP as a send error and sent
//   again later without being counted as lost, which is backpressure, not loss (measured:
//   152 drops on OUTPUT, 0 retransmissions). Apply loss on both ends to lose both directions.
// - duplication: iptables TEE (statistic match) in mangle POSTROUTING clones a fraction of the
//   packets to the peer through the host's next hop; the original goes out too, so the peer
//   receives both (its TCP answers with D-SACKs, TcpExtTCPDSACKOldSent).
// - reordering: an htb qdisc on the host's link with a default class that is never the
//   bottleneck and a slow 2 Mbit/s class; iptables CLASSIFY (statistic match) puts a fraction
//   of the packets to the peer in the slow class, where a full-size segment waits at least
//   6 ms while the packets after it overtake it (the receiver's TcpExtTCPOFOQueue grows).
// While faults are applied the link sends wire-sized segments (gso_max_segs 1), so a fault hits
// one segment, not a 64 KiB GSO super-packet. Delay is not done here: there is no in-kernel
// delay without netem; tests add it with adjustable-delay-relay.ts.
// Needs root and iptables-legacy (the Debian package iptables); without them,
// PacketFaultsUnavailableError says what is missing.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TestHost } from './netns.js';

const run = promisify(execFile);

const IPTABLES = 'iptables-legacy';
/** One chain per table, jumped to from INPUT (filter) and POSTROUTING (mangle): clear() removes exactly these. */
const CHAIN = 'BUNKER_PACKET_FAULTS';
const SLOW_CLASS = '1:20';

export type PacketFault = 'loss' | 'duplicate' | 'reorder';

/** Fractions (0 to 1) of the packets exchanged with one peer. */
export interface PacketFaultSpec {
  /** The peer: an address or a CIDR, as iptables takes it. */
  readonly peer: string;
  /** Packets from the peer dropped on arrival. */
  readonly loss?: number;
  /** Packets to the peer sent twice. */
  readonly duplicate?: number;
  /** Packets to the peer held back in the slow class, so later ones overtake them. */
  readonly reorder?: number;
}

export interface FaultRuleCounter {
  readonly peer: string;
  readonly fault: PacketFault;
  readonly probability: number;
  /** Packets the rule matched: dropped, cloned or sent to the slow class. */
  readonly packets: number;
}

export interface PacketFaultCounters {
  readonly host: string;
  readonly rules: readonly FaultRuleCounter[];
  /** Packets the slow (reordering) class actually sent. */
  readonly slowClassPackets: number;
}

/** TCP counters of one namespace that show what the faults did to real connections. */
export interface TcpFaultEvidence {
  /** Segments sent again (lost, or presumed lost). */
  readonly retransSegs: number;
  /** D-SACKs received: the peer got a segment twice. */
  readonly dsackRecv: number;
  /** D-SACKs sent: this end got a segment twice. */
  readonly dsackOldSent: number;
  /** Segments that arrived ahead of a gap (reordered or after a loss). */
  readonly ofoQueue: number;
  /** Reorderings the sender detected from SACKs. */
  readonly sackReorder: number;
}

export class PacketFaultsUnavailableError extends Error {
  constructor(readonly reason: 'not-root' | 'no-iptables-legacy' | 'no-kernel-support', detail: string) {
    super(`packet faults unavailable (${reason}): ${detail}`);
    this.name = 'PacketFaultsUnavailableError';
  }
}

export interface HostPacketFaults {
  readonly host: TestHost;
  /** Adds the faults for one peer; call once per peer. */
  apply(spec: PacketFaultSpec): Promise<void>;
  counters(): Promise<PacketFaultCounters>;
  /** Removes every rule, the qdisc and the GSO setting; safe to call again, or after a failed apply. */
  clear(): Promise<void>;
}

async function netnsRun(netns: string, command: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', netns, command, ...args], { timeout: 10_000 });
  return stdout;
}

/** Throws PacketFaultsUnavailableError unless this process can apply packet faults. */
export async function checkPacketFaults(): Promise<void> {
  if (process.getuid?.() !== 0) throw new PacketFaultsUnavailableError('not-root', 'iptables and tc in a network namespace need root');
  try {
    await run(IPTABLES, ['--version'], { timeout: 10_000 });
  } catch (error) {
    const missing = typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';
    throw new PacketFaultsUnavailableError('no-iptables-legacy', missing ? `${IPTABLES} not found: apt-get install iptables` : String(error));
  }
}

function probabilityArg(value: number): string {
  if (!(value > 0 && value < 1)) throw new RangeError(`fault probability must be in (0, 1): ${value}`);
  return value.toFixed(4);
}

/** The faults of one test host; nothing is changed until apply(). */
export function packetFaultsOn(host: TestHost): HostPacketFaults {
  const ipt = (args: readonly string[]): Promise<string> => netnsRun(host.netns, IPTABLES, ['-w', '5', ...args]);
  const rules: Array<{ peer: string; fault: PacketFault; probability: number; comment: string }> = [];
  let device: string | undefined;
  let gsoBefore: number | undefined;
  let chainsReady = false;
  let qdiscReady = false;

  const linkDevice = async (): Promise<string> => {
    if (device !== undefined) return device;
    // The host's own end of its link: where its packets leave (its one route goes via rootIp).
    const route = await netnsRun(host.netns, 'ip', ['-o', 'route', 'get', host.rootIp]);
    const found = /\bdev (\S+)/.exec(route)?.[1];
    if (found === undefined) throw new Error(`no link to ${host.rootIp} in ${host.netns}: ${route}`);
    device = found;
    return found;
  };

  const prepare = async (): Promise<void> => {
    if (chainsReady) return;
    const dev = await linkDevice();
    const link: unknown = JSON.parse(await netnsRun(host.netns, 'ip', ['-d', '-j', 'link', 'show', 'dev', dev]));
    const segs = Array.isArray(link) && typeof link[0] === 'object' && link[0] !== null && 'gso_max_segs' in link[0] ? Number(link[0].gso_max_segs) : NaN;
    if (Number.isFinite(segs)) gsoBefore = segs;
    await netnsRun(host.netns, 'ip', ['link', 'set', 'dev', dev, 'gso_max_segs', '1']);
    for (const [table, hook] of [['filter', 'INPUT'], ['mangle', 'POSTROUTING']] as const) {
      await ipt(['-t', table, '-N', CHAIN]);
      await ipt(['-t', table, '-A', hook, '-j', CHAIN]);
    }
    chainsReady = true;
  };

  const prepareQdisc = async (): Promise<void> => {
    if (qdiscReady) return;
    const dev = await linkDevice();
    const tc = (args: readonly string[]): Promise<string> => netnsRun(host.netns, 'tc', args);
    await tc(['qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10']);
    qdiscReady = true;
    // 1:10 carries everything not classified; at 10 Gbit/s it is never what limits a test.
    await tc(['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit', 'ceil', '10gbit', 'quantum', '60000']);
    // A small burst so a full-size segment here always waits its 6 ms of transmission time.
    await tc(['class', 'add', 'dev', dev, 'parent', '1:', 'classid', SLOW_CLASS, 'htb', 'rate', '2mbit', 'ceil', '2mbit', 'burst', '1600', 'cburst', '1600', 'quantum', '1600']);
  };

  const addRule = async (table: 'filter' | 'mangle', peer: string, fault: PacketFault, probability: number, match: readonly string[], target: readonly string[]): Promise<void> => {
    const comment = `${fault} ${peer}`;
    await ipt(['-t', table, '-A', CHAIN, ...match, '-m', 'statistic', '--mode', 'random', '--probability', probabilityArg(probability),
      '-m', 'comment', '--comment', comment, ...target]);
    rules.push({ peer, fault, probability, comment });
  };

  const apply = async (spec: PacketFaultSpec): Promise<void> => {
    try {
      await prepare();
      if (spec.loss !== undefined) await addRule('filter', spec.peer, 'loss', spec.loss, ['-s', spec.peer], ['-j', 'DROP']);
      // The next hop is always on-link, so the clone leaves like the original and is routed on to the peer.
      if (spec.duplicate !== undefined) await addRule('mangle', spec.peer, 'duplicate', spec.duplicate, ['-d', spec.peer], ['-j', 'TEE', '--gateway', host.rootIp]);
      if (spec.reorder !== undefined) {
        await prepareQdisc();
        await addRule('mangle', spec.peer, 'reorder', spec.reorder, ['-d', spec.peer], ['-j', 'CLASSIFY', '--set-class', SLOW_CLASS]);
      }
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      if (/No chain\/target\/match|Couldn't load|unknown|not supported/i.test(detail)) {
        throw new PacketFaultsUnavailableError('no-kernel-support', `on ${host.name}: ${detail.trim()}`);
      }
      throw error;
    }
  };

  const counters = async (): Promise<PacketFaultCounters> => {
    const packetsByComment = new Map<string, number>();
    if (chainsReady) {
      for (const table of ['filter', 'mangle']) {
        const listing = await ipt(['-t', table, '-L', CHAIN, '-v', '-n', '-x']);
        for (const line of listing.split('\n')) {
          const comment = /\/\* (.*) \*\//.exec(line)?.[1];
          const packets = /^\s*(\d+)\s/.exec(line)?.[1];
          if (comment !== undefined && packets !== undefined) packetsByComment.set(comment, Number(packets));
        }
      }
    }
    let slowClassPackets = 0;
    if (qdiscReady) {
      const stats = await netnsRun(host.netns, 'tc', ['-s', 'class', 'show', 'dev', await linkDevice(), 'classid', SLOW_CLASS]);
      slowClassPackets = Number(/Sent \d+ bytes (\d+) pkt/.exec(stats)?.[1] ?? 0);
    }
    return {
      host: host.name,
      rules: rules.map((r) => ({ peer: r.peer, fault: r.fault, probability: r.probability, packets: packetsByComment.get(r.comment) ?? 0 })),
      slowClassPackets,
    };
  };

  const clear = async (): Promise<void> => {
    // Each step on its own: one that fails (the namespace already gone) must not keep the others from running.
    const quietly = (work: Promise<unknown>): Promise<void> => work.then(() => undefined, () => undefined);
    for (const [table, hook] of [['filter', 'INPUT'], ['mangle', 'POSTROUTING']] as const) {
      await quietly(ipt(['-t', table, '-D', hook, '-j', CHAIN]));
      await quietly(ipt(['-t', table, '-F', CHAIN]));
      await quietly(ipt(['-t', table, '-X', CHAIN]));
    }
    if (device !== undefined) {
      if (qdiscReady) await quietly(netnsRun(host.netns, 'tc', ['qdisc', 'del', 'dev', device, 'root']));
      if (gsoBefore !== undefined) await quietly(netnsRun(host.netns, 'ip', ['link', 'set', 'dev', device, 'gso_max_segs', String(gsoBefore)]));
    }
    chainsReady = false;
    qdiscReady = false;
    gsoBefore = undefined;
    rules.length = 0;
  };

  return { host, apply, counters, clear };
}

function counterOf(text: string, prefix: string, name: string): number {
  // /proc/net/snmp and /proc/net/netstat: a line of names then a line of values, per prefix.
  const lines = text.split('\n').filter((l) => l.startsWith(`${prefix}:`));
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]?.split(/\s+/) ?? [];
    const values = lines[i + 1]?.split(/\s+/) ?? [];
    const at = names.indexOf(name);
    if (at > 0) return Number(values[at] ?? NaN);
  }
  return NaN;
}

/** The TCP counters of a host's namespace (they are per namespace); compare two readings. */
export async function tcpFaultEvidence(host: TestHost): Promise<TcpFaultEvidence> {
  const snmp = await netnsRun(host.netns, 'cat', ['/proc/net/snmp']);
  const netstat = await netnsRun(host.netns, 'cat', ['/proc/net/netstat']);
  return {
    retransSegs: counterOf(snmp, 'Tcp', 'RetransSegs'),
    dsackRecv: counterOf(netstat, 'TcpExt', 'TCPDSACKRecv'),
    dsackOldSent: counterOf(netstat, 'TcpExt', 'TCPDSACKOldSent'),
    ofoQueue: counterOf(netstat, 'TcpExt', 'TCPOFOQueue'),
    sackReorder: counterOf(netstat, 'TcpExt', 'TCPSACKReorder'),
  };
}

export function tcpEvidenceDelta(before: TcpFaultEvidence, after: TcpFaultEvidence): TcpFaultEvidence {
  return {
    retransSegs: after.retransSegs - before.retransSegs,
    dsackRecv: after.dsackRecv - before.dsackRecv,
    dsackOldSent: after.dsackOldSent - before.dsackOldSent,
    ofoQueue: after.ofoQueue - before.ofoQueue,
    sackReorder: after.sackReorder - before.sackReorder,
  };
}
