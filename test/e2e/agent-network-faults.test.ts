// Three real agent processes keep writing and converge while the bunker and secondary links
// drop, duplicate, reorder and delay real packets (issue 11, "Network faults").
// Method: each agent in its own network namespace (netns.ts), primary in recovery: sync. The
// kernel has no sch_netem, so the faults are made as in packet-faults.ts (iptables DROP, TEE
// and CLASSIFY into a slow htb class, in the hosts' namespaces) and the delay by a user-space
// delay relay (adjustable-delay-relay.ts) that each link goes through: primary -> relay (in the
// root namespace, at the peer's root-side address) -> peer. So each link has two legs, and the
// faults are on both: the primary's rules hit its leg (data out, acknowledgements in), the
// peer's rules hit the relay's leg (data in, acknowledgements out).
// One verifiable writer runs throughout: a window without faults, a window with them, a window
// after they are cleared. Writes must go on (slower) under the faults; afterwards the
// secondary's data file must be byte-identical to the primary's, and every acknowledged write
// must be in both. Without root or namespaces the packet faults are skipped (said so) and only
// the delay runs.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { FillPolicy, RecoveryMode, Role, SecondaryMode, type ConfigureRequest, type Peer, type VolumeStatus } from '@bunker/proto';
import { startAgent, type AgentProcess } from '../support/agent-process.js';
import { startAdjustableDelayRelay, type AdjustableDelayRelay } from '../support/adjustable-delay-relay.js';
import { repoRoot } from '../support/control-plane.js';
import { differingBytes } from '../support/data-diff.js';
import { runClient, type ClientRun } from '../support/nbd-clients.js';
import { testHostsOrLoopback, type TestHost, type TestNetwork } from '../support/netns.js';
import {
  checkPacketFaults, packetFaultsOn, tcpEvidenceDelta, tcpFaultEvidence,
  type HostPacketFaults, type PacketFaultCounters, type TcpFaultEvidence,
} from '../support/packet-faults.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

const MiB = 1024 * 1024;
const VOLUME = 'default/netfaults';
const SIZE_BYTES = 32 * MiB;
/** Per packet, on every leg of both links; moderate, so writes slow down without stopping. */
const FAULTS = { loss: 0.03, duplicate: 0.03, reorder: 0.05 } as const;
/** Added latency each way: the bunker is near, the secondary far. */
const DELAY_MS = { bunker: 2, secondary: 15 } as const;
const WINDOW_MS = { before: 6_000, faults: 12_000, after: 4_000 } as const;

let baseDir: string;
let network: TestNetwork | undefined;
const agents: AgentProcess[] = [];
const relays: AdjustableDelayRelay[] = [];
const faults: HostPacketFaults[] = [];
const volumeUid = randomUUID();

function request(role: Role, peers: { primary?: Peer; bunker?: Peer; secondaryPeer?: Peer }): ConfigureRequest {
  return {
    volume: VOLUME, volumeUid, epoch: 1, role, sizeBytes: SIZE_BYTES, logBytes: 64 * MiB,
    recovery: RecoveryMode.RECOVERY_MODE_SYNC, secondary: SecondaryMode.SECONDARY_MODE_ASYNC,
    fillPolicy: FillPolicy.FILL_POLICY_TRACK_CHANGES, changeMapRegionBytes: 64 * 1024,
    primary: peers.primary, bunker: peers.bunker, secondaryPeer: peers.secondaryPeer, clearChangeMap: false,
  };
}

async function volumeOf(agent: AgentProcess): Promise<VolumeStatus> {
  const volume = (await agent.status()).volumes.find((v) => v.volume === VOLUME);
  if (volume === undefined) throw new Error(`${agent.node} does not hold ${VOLUME}`);
  return volume;
}

const dataPath = (agent: AgentProcess): string => join(agent.dataDir, 'volumes', VOLUME.replace('/', '__'), 'data.img');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function ackCount(ackLog: string): Promise<number> {
  const text = await readFile(ackLog, 'utf8').catch(() => '');
  return text.split('\n').length - 1;
}

/** The relay a link goes through: on the peer's root-side address, which the primary's namespace routes to. */
async function relayTo(agent: AgentProcess, host: TestHost | undefined): Promise<AdjustableDelayRelay> {
  const port = Number(agent.grpcAddress.split(':').at(-1));
  const relay = await startAdjustableDelayRelay(host?.rootIp ?? '127.0.0.1', { host: agent.host, port });
  relays.push(relay);
  return relay;
}

function formatCounters(c: PacketFaultCounters): string {
  const rules = c.rules.map((r) => `${r.fault} ${r.probability} ${r.fault === 'loss' ? 'from' : 'to'} ${r.peer}: ${r.packets} pkts`);
  return `  ${c.host}: ${rules.join(', ')}; slow class sent ${c.slowClassPackets} pkts`;
}

function formatTcp(host: string, d: TcpFaultEvidence): string {
  return `  ${host}: retransmitted ${d.retransSegs}, D-SACKs received ${d.dsackRecv}, D-SACKs sent (duplicates in) ${d.dsackOldSent}, ` +
    `out-of-order queued ${d.ofoQueue}, reorderings seen ${d.sackReorder}`;
}

beforeAll(async () => {
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-netfaults-'));
  // Subnets 10.213.76-78 (others' tests use 40-42, 50, 60-75).
  network = await testHostsOrLoopback(['site-a', 'site-b', 'site-c'], 76);
  const started = await Promise.all(['site-a', 'site-b', 'site-c'].map((node, index) => {
    const host = network?.hosts[index];
    return startAgent({ node, baseDir, ...(host === undefined ? {} : { host: host.ip, netns: host.netns }) });
  }));
  agents.push(...started);
}, 40_000);

afterAll(async () => {
  // Every step on its own, so one failure does not leave the rest running.
  for (const f of faults) await f.clear().catch(() => undefined);
  for (const relay of relays) await relay.close().catch(() => undefined);
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  await network?.destroy().catch(() => undefined);
  if (baseDir !== undefined) await rm(baseDir, { recursive: true, force: true });
}, 30_000);

describe('network faults on the bunker and secondary links', () => {
  it('writes go on under loss, duplication, reordering and delay, and the secondary converges byte for byte', async () => {
    const [primary, bunker, secondary] = agents;
    if (primary === undefined || bunker === undefined || secondary === undefined) throw new Error('agents did not start');
    const [primaryHost, bunkerHost, secondaryHost] = network?.hosts ?? [];
    const bunkerRelay = await relayTo(bunker, bunkerHost);
    const secondaryRelay = await relayTo(secondary, secondaryHost);
    const peer = (agent: AgentProcess) => ({ node: agent.node, address: agent.grpcAddress });
    await bunker.configure(request(Role.ROLE_BUNKER, { primary: peer(primary) }));
    await secondary.configure(request(Role.ROLE_SECONDARY, { primary: peer(primary) }));
    await primary.configure(request(Role.ROLE_PRIMARY, {
      bunker: { node: bunker.node, address: `${bunkerRelay.host}:${bunkerRelay.port}` },
      secondaryPeer: { node: secondary.node, address: `${secondaryRelay.host}:${secondaryRelay.port}` },
    }));
    await waitFor('the primary to serve NBD', async () => ((await volumeOf(primary)).nbdAddress !== '' ? true : undefined), { timeoutMs: 15_000 });

    // Which leg each host's rules act on: the primary's toward both relays, each peer's toward its relay.
    const plan = primaryHost !== undefined && bunkerHost !== undefined && secondaryHost !== undefined
      ? [{ host: primaryHost, peers: [bunkerHost.rootIp, secondaryHost.rootIp] }, { host: bunkerHost, peers: [bunkerHost.rootIp] }, { host: secondaryHost, peers: [secondaryHost.rootIp] }]
      : undefined;
    if (plan === undefined) {
      process.stdout.write('packet faults SKIPPED: not root or no network namespaces here; only the delay relays are in the path\n');
    } else {
      await checkPacketFaults();
    }

    const ackLog = join(baseDir, 'acks');
    const totalSeconds = (WINDOW_MS.before + WINDOW_MS.faults + WINDOW_MS.after) / 1000 + 2;
    const writer: Promise<ClientRun> = runClient('/usr/bin/python3', [
      join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', `nbd://${primary.host}:${primary.nbdPort}/${VOLUME}`,
      '--blocks', '2048', '--seconds', String(totalSeconds), '--ack-log', ackLog, '--seed', '11',
    ], { timeoutMs: (totalSeconds + 20) * 1000 });

    await waitFor('the first acknowledged write', async () => ((await ackCount(ackLog)) > 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    const t0 = Date.now();
    const a0 = await ackCount(ackLog);
    await sleep(WINDOW_MS.before);
    const t1 = Date.now();
    const a1 = await ackCount(ackLog);

    const tcpBefore = new Map<string, TcpFaultEvidence>();
    for (const step of plan ?? []) {
      tcpBefore.set(step.host.name, await tcpFaultEvidence(step.host));
      const hostFaults = packetFaultsOn(step.host);
      faults.push(hostFaults);
      for (const p of step.peers) await hostFaults.apply({ peer: p, ...FAULTS });
    }
    bunkerRelay.setDelay(DELAY_MS.bunker);
    secondaryRelay.setDelay(DELAY_MS.secondary);
    process.stdout.write(`faults applied: ${plan === undefined ? '' : `loss ${FAULTS.loss}, duplication ${FAULTS.duplicate}, reordering ${FAULTS.reorder} per packet on every leg, `}` +
      `delay ${DELAY_MS.bunker} ms (bunker link) and ${DELAY_MS.secondary} ms (secondary link) each way by the delay relays\n`);
    await sleep(WINDOW_MS.faults);
    const t2 = Date.now();
    const a2 = await ackCount(ackLog);
    const counters = await Promise.all(faults.map((f) => f.counters()));
    const tcp = await Promise.all((plan ?? []).map(async (step) => {
      const before = tcpBefore.get(step.host.name);
      return { host: step.host.name, delta: before === undefined ? undefined : tcpEvidenceDelta(before, await tcpFaultEvidence(step.host)) };
    }));
    for (const f of faults) await f.clear();
    bunkerRelay.setDelay(0);
    secondaryRelay.setDelay(0);
    const t3 = Date.now();
    const a3 = await ackCount(ackLog);

    const run = await writer;
    const t4 = Date.now();
    const a4 = await ackCount(ackLog);
    const rate = (acks: number, ms: number): string => (acks / (ms / 1000)).toFixed(1);
    process.stdout.write(`acknowledged writes: ${a1 - a0} without faults (${rate(a1 - a0, t1 - t0)}/s), ${a2 - a1} under faults ` +
      `(${rate(a2 - a1, t2 - t1)}/s), ${a4 - a3} after clearing them (${rate(a4 - a3, t4 - t3)}/s); ${a4} in all; writer: ${run.stderr.trim()}\n`);
    if (counters.length > 0) process.stdout.write(`fault rule packet counters (matched packets):\n${counters.map(formatCounters).join('\n')}\n`);
    if (tcp.length > 0) process.stdout.write(`TCP counters over the fault window, per namespace:\n${tcp.map((t) => (t.delta === undefined ? '' : formatTcp(t.host, t.delta))).join('\n')}\n`);

    expect(run.code).toBe(0);
    expect(a2 - a1).toBeGreaterThan(0);
    if (plan !== undefined) {
      // Every fault hit real packets on both links (each link: the primary's leg plus the peer's leg).
      for (const linkPeer of [bunkerHost?.rootIp, secondaryHost?.rootIp]) {
        for (const fault of ['loss', 'duplicate', 'reorder'] as const) {
          const hits = counters.flatMap((c) => c.rules).filter((r) => r.peer === linkPeer && r.fault === fault).reduce((sum, r) => sum + r.packets, 0);
          expect({ link: linkPeer, fault, hit: hits > 0 }).toEqual({ link: linkPeer, fault, hit: true });
        }
      }
      expect(counters.reduce((sum, c) => sum + c.slowClassPackets, 0)).toBeGreaterThan(0);
      // And real connections felt them: segments arrived twice (D-SACKs) and out of order.
      const total = (key: keyof TcpFaultEvidence): number => tcp.reduce((sum, t) => sum + (t.delta?.[key] ?? 0), 0);
      expect(total('dsackRecv') + total('dsackOldSent')).toBeGreaterThan(0);
      expect(total('ofoQueue')).toBeGreaterThan(0);
    }

    // Faults cleared: the secondary catches up and holds exactly the primary's bytes.
    const durable = (await volumeOf(primary)).durableSeq;
    const convergeStarted = Date.now();
    await waitFor('the secondary to apply everything', async () => ((await volumeOf(secondary)).appliedSeq >= durable ? true : undefined), { timeoutMs: 20_000 });
    const differing = await differingBytes(dataPath(primary), dataPath(secondary), SIZE_BYTES);
    const checks = await Promise.all([primary, secondary].map((a) => verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath(a), offset, length))));
    process.stdout.write(`secondary caught up ${Date.now() - convergeStarted} ms after the writer stopped: sequence ${durable}, ${differing} bytes differ; ` +
      `acknowledged blocks checked ${checks.map((c) => c.blocksChecked).join(' / ')} (primary / secondary), lost ${checks.map((c) => c.lost.length).join(' / ')}\n`);
    expect(differing).toBe(0);
    for (const check of checks) {
      expect(check.blocksChecked).toBeGreaterThan(0);
      expect(check.lost).toEqual([]);
    }
  }, 75_000);
});
