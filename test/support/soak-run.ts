// The soak run (issue 11): `npm run soak -- --minutes N` (scripts/soak.ts) by hand, and two
// minutes of it in CI (test/integration/soak.test.ts). One volume on three agents under the real
// operator, with a verifiable writer (test/support/verifiable-writer.py) writing through the
// volume's Service for the whole run (an EndpointSlice-following proxy, so it follows the
// primary when it moves), and, at intervals, one fault at a time for a few seconds:
//   - stall:      the secondary's agent is stopped (SIGSTOP) and continued (SIGCONT);
//   - far-delay:  the secondary's announced gRPC address is a relay in this process, which
//                 then holds every chunk some tens of milliseconds in each direction;
//   - slow-sync:  the bunker's log fdatasync is slowed through its --fault-file.
// Exactly one takeover, 5 s into the run: kill -9 of the primary's agent, its Node marked
// NotReady; the operator takes over on the secondary; the agent restarts (same ports and data)
// and its Node is Ready again; the operator fails it back (resync) as the new secondary. It
// comes before the warm-up sample, so the agents hold their final roles from the warm-up on.
// At the end (writer stopped, volume settled): every acknowledged write is checked on the final
// primary's data file (and on the final secondary's), and for every agent that ran the whole
// time, its RSS and open file descriptors now against after warm-up (the first 20% of the run
// or 30 s, whichever is more, and at least 5 s after the failback): RSS within 20%, descriptors
// within +8. RSS is sampled every second; "after warm-up" and "at the end" are the medians of
// the samples in a window (a quarter of the measured span, 5 to 20 s) at each end, because a
// Node process's RSS swings by 10-15% with its garbage collector and one sample can land on
// either side of a swing.
// Every wait has a deadline, and everything the run started is stopped when it ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Role, type VolumeStatus } from '@bunker/proto';
import type { ReplicatedVolume, TakeoverRecord } from '../../operator/src/api/index.js';
import { startAdjustableDelayRelay, type AdjustableDelayRelay } from './adjustable-delay-relay.js';
import { startAgent, type AgentProcess } from './agent-process.js';
import { repoRoot } from './control-plane.js';
import { freePort } from './free-port.js';
import { kubectl } from './kubectl.js';
import {
  ensureNamespace, ensureReadyNode, installCrd, kubectlOk, markNodeNotReady, startOperator, testLinkAddress, type OperatorProcess,
} from './operator-process.js';
import { startServiceProxy, type ServiceProxy } from './tcp-relay.js';
import { volumeReader } from './volume-reader.js';
import { waitFor } from './wait-for.js';
import { readFileRange, verifyAcknowledged, type VerifyResult } from './write-verifier.js';

export const RSS_TOLERANCE = 0.2;
const RSS_SAMPLE_MS = 1_000;
/** Heap figures are scraped from /metrics every this many RSS samples. */
const HEAP_SAMPLE_EVERY = 10;
export const FD_SLACK = 8;

export interface SoakOptions {
  readonly kubeconfigPath: string;
  readonly baseDir: string;
  readonly namespace: string;
  /** Namespace of the agents' Leases. */
  readonly operatorNamespace: string;
  /** Three nodes: the volume's primary, bunker and secondary at the start. */
  readonly nodes: readonly [string, string, string];
  /** testLinkAddress subnet. */
  readonly subnet: number;
  /** How long the writer writes. */
  readonly durationMs: number;
  readonly log?: (line: string) => void;
}

export type FaultKind = 'stall' | 'far-delay' | 'slow-sync';

export interface FaultEpisode {
  readonly kind: FaultKind;
  readonly node: string;
  /** Since the writer's start. */
  readonly atMs: number;
  readonly durationMs: number;
  /** Writes acknowledged while the fault was on. */
  readonly acksDuring: number;
  /** Writes acknowledged in the gap of the same length after it (no fault on), for comparison. */
  acksAfter: number;
}

export interface ProcessFigures {
  readonly pid: number;
  readonly rssKiB: number;
  readonly fds: number;
}

export interface RssSample {
  /** Since the writer's start. */
  readonly atMs: number;
  readonly rssKiB: Readonly<Record<string, number>>;
}

/** What an agent's own metrics say of its memory (MiB), to tell a leak from a heap that grew its spaces. */
export interface HeapFigures {
  readonly usedMiB: number;
  readonly totalMiB: number;
  /** V8's young generation (new space): it grows in steps under a high allocation rate, up to a bound. */
  readonly newSpaceMiB: number;
  readonly externalMiB: number;
}

export interface HeapSample {
  readonly atMs: number;
  readonly byNode: Readonly<Record<string, HeapFigures>>;
}

export interface AgentReport {
  readonly node: string;
  /** The role it holds at the end. */
  readonly role: string;
  /** Ran from before warm-up to the end without a restart: only these are checked. */
  readonly ranWholeTime: boolean;
  readonly warm: ProcessFigures | undefined;
  readonly end: ProcessFigures | undefined;
  readonly rssOk: boolean;
  readonly fdsOk: boolean;
}

export interface TakeoverReport {
  readonly fromNode: string;
  readonly toNode: string;
  /** Since the writer's start. */
  readonly atMs: number;
  readonly killToRecordedMs: number;
  /** kill -9 to the first write acknowledged after it (the writer's outage). */
  readonly killToWritesMs: number;
  /** Agent restarted to the failback (resync) finished and the volume Ready. */
  readonly restartToFailbackMs: number;
  readonly record: TakeoverRecord | undefined;
  readonly resync: NonNullable<ReplicatedVolume['status']>['resync'];
}

export interface SoakResult {
  readonly volume: string;
  readonly durationMs: number;
  readonly warmUpAtMs: number;
  /** When the warm-up sample was taken (after warmUpAtMs, and after the failback). */
  readonly warmSampledAtMs: number;
  /** RSS of each agent, sampled every second. */
  readonly rssTrace: readonly RssSample[];
  /** Each agent's heap figures from its /metrics, every HEAP_SAMPLE_EVERY RSS samples. */
  readonly heapTrace: readonly HeapSample[];
  readonly acknowledged: number;
  readonly writerSummary: string;
  readonly primary: VerifyResult & { readonly node: string };
  readonly secondary: (VerifyResult & { readonly node: string }) | undefined;
  readonly episodes: readonly FaultEpisode[];
  readonly takeover: TakeoverReport | undefined;
  /** TakeoverStarted Events of the volume (exactly one takeover is expected). */
  readonly takeoverEvents: number;
  readonly settleMs: number;
  readonly agents: readonly AgentReport[];
  readonly operator: { readonly warm: ProcessFigures | undefined; readonly end: ProcessFigures | undefined };
  readonly finalStatus: ReplicatedVolume['status'];
  readonly totalMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** VmRSS (KiB) and the count of open file descriptors of a process. */
export async function processFigures(pid: number): Promise<ProcessFigures> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for process ${pid}`);
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  return { pid, rssKiB: Number(match[1]), fds };
}

/** Newlines in the acknowledgement log: one per acknowledged write. */
async function ackCount(path: string): Promise<number> {
  const bytes = await readFile(path).catch(() => Buffer.alloc(0));
  let lines = 0;
  for (let at = bytes.indexOf(10); at >= 0; at = bytes.indexOf(10, at + 1)) lines += 1;
  return lines;
}

async function ackBytes(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

interface Writer {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function startWriter(args: readonly string[], timeoutMs: number): Writer {
  const child = spawn('/usr/bin/python3', [join(repoRoot, 'test/support/verifiable-writer.py'), ...args], {
    env: { ...process.env, PATH: `/usr/bin:/bin:${process.env['PATH'] ?? ''}` }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stderr: `${stderr}\n${error.message}` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
  return { child, done };
}

interface Site {
  readonly node: string;
  readonly grpcPort: number;
  nbdPort: number | undefined;
  readonly faultFile: string;
  readonly relay: AdjustableDelayRelay | undefined;
  agent: AgentProcess | undefined;
}

function roleName(role: Role | undefined): string {
  switch (role) {
    case Role.ROLE_PRIMARY: return 'primary';
    case Role.ROLE_BUNKER: return 'bunker';
    case Role.ROLE_SECONDARY: return 'secondary';
    default: return role === undefined ? 'none' : `role ${role}`;
  }
}

/** One soak run; stops everything it started, whatever happens. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const { namespace, nodes, baseDir } = options;
  const name = 'soak';
  const volumeId = `${namespace}/${name}`;
  const started = Date.now();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(options.kubeconfigPath);
  const readVolume = volumeReader(kubeConfig);
  const volume = (): Promise<ReplicatedVolume> => readVolume(namespace, name);

  const sites = new Map<string, Site>();
  let link: { readonly host: string; destroy(): Promise<void> } | undefined;
  let rssSampler: NodeJS.Timeout | undefined;
  let operator: OperatorProcess | undefined;
  let proxy: ServiceProxy | undefined;
  let writer: Writer | undefined;
  const site = (node: string): Site => {
    const found = sites.get(node);
    if (found === undefined) throw new Error(`no site ${node}`);
    return found;
  };
  const agentOf = (node: string): AgentProcess => {
    const found = site(node).agent;
    if (found === undefined) throw new Error(`no agent on ${node}`);
    return found;
  };
  const dataPath = (node: string): string => join(agentOf(node).dataDir, 'volumes', `${namespace}__${name}`, 'data.img');
  const held = async (node: string): Promise<VolumeStatus | undefined> => (await agentOf(node).status()).volumes.find((v) => v.volume === volumeId);

  const startSiteAgent = async (s: Site): Promise<void> => {
    s.agent = await startAgent({
      node: s.node, baseDir, kubeconfig: options.kubeconfigPath, namespace: options.operatorNamespace, host: link?.host ?? '127.0.0.1',
      grpcPort: s.grpcPort, ...(s.nbdPort === undefined ? {} : { nbdPort: s.nbdPort }),
      extraArgs: ['--fault-file', s.faultFile, ...(s.relay === undefined ? [] : ['--advertise-grpc', `${s.relay.host}:${s.relay.port}`])],
    });
    s.nbdPort = s.agent.nbdPort;
  };

  try {
    // 1. The cluster around the volume: CRD, namespaces, Ready Nodes, three agents, the operator.
    await installCrd();
    await ensureNamespace(options.operatorNamespace);
    await ensureNamespace(namespace);
    for (const node of nodes) await ensureReadyNode(node);
    link = await testLinkAddress(options.subnet);
    const host = link.host;
    for (const [index, node] of nodes.entries()) {
      const faultFile = join(baseDir, `${node}.faults.json`);
      await writeFile(faultFile, '{}');
      const grpcPort = await freePort(host);
      // The primary and the secondary of the start are the far link's two ends (the old primary
      // comes back as the secondary): their peers reach them through an adjustable relay.
      const relay = index === 1 ? undefined : await startAdjustableDelayRelay(host, { host, port: grpcPort });
      const s: Site = { node, grpcPort, nbdPort: undefined, faultFile, relay, agent: undefined };
      sites.set(node, s);
      await startSiteAgent(s);
    }
    operator = await startOperator({
      identity: `soak-${process.pid}`, baseDir, kubeconfig: options.kubeconfigPath, namespace: options.operatorNamespace,
      volumeNamespaces: [namespace], leaderElect: false,
    });
    const [primaryNode, bunkerNode, secondaryNode] = nodes;
    await kubectlOk(['-n', namespace, 'apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
      spec: {
        size: '16Mi', log: { size: '64Mi' }, reclaimPolicy: 'Delete', failover: { gracePeriodSeconds: 2 },
        placement: { primary: { node: primaryNode }, bunker: { node: bunkerNode }, secondary: { node: secondaryNode } },
      },
    }));
    await waitFor(`${name} to be Ready`, async () => ((await volume()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });
    proxy = await startServiceProxy({ kubeConfig, namespace, name, pollMs: 200 });
    const serviceProxy = proxy;
    await waitFor('the EndpointSlice to list the primary', async () => serviceProxy.current(), { timeoutMs: 30_000, intervalMs: 100 });
    log(`soak: operator and agents ${nodes.join(', ')} up, ${name} Ready, endpoint ${serviceProxy.current()} (${Date.now() - started} ms)`);

    // 2. The writer, through the Service proxy, for the whole run.
    const ackLog = join(baseDir, 'soak.acks');
    const seconds = Math.round(options.durationMs / 1000);
    writer = startWriter([
      '--uri', `nbd://${serviceProxy.host}:${serviceProxy.port}/${volumeId}`, '--reconnect',
      '--blocks', '2048', '--seconds', String(seconds), '--ack-log', ackLog, '--seed', '75',
    ], options.durationMs + 60_000);
    await waitFor('the first acknowledged write', async () => ((await ackBytes(ackLog)) > 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
    const t0 = Date.now();
    const endAt = t0 + options.durationMs;
    // At least 30 s, and a fifth of a longer run: the agents' V8 heap is flat from the start,
    // but their native memory (RSS outside the heap) settles only after a minute or two of
    // load (measured in 10-minute runs: heap used ~50 MiB and total ~85 MiB throughout, RSS
    // flat from ~105 s on); a warm-up sample taken before that reads settling as growth.
    const warmUpAtMs = Math.max(30_000, options.durationMs * 0.2);
    // The takeover and the failback come first, before the warm-up sample: a primary holds more
    // memory than a secondary (NBD serving, the peers' streams), so a role change between the
    // two samples would look like growth. Measured from the warm-up on, every agent holds
    // the role it keeps to the end, and only growth in that role counts.
    const takeoverAtMs = Math.min(5_000, options.durationMs * 0.05);
    const since = (): number => Date.now() - t0;
    log(`soak: writer started; takeover at ${Math.round(takeoverAtMs / 1000)} s, warm-up at ${Math.round(warmUpAtMs / 1000)} s (or after the failback), end at ${seconds} s`);

    // 3. Faults at intervals, the warm-up sample between two, and the one takeover.
    const episodes: FaultEpisode[] = [];
    const warm = new Map<string, ProcessFigures>();
    let operatorWarm: ProcessFigures | undefined;
    let warmSampledAtMs = 0;
    let failbackDoneAtMs = 0;
    const rssTrace: RssSample[] = [];
    const heapTrace: HeapSample[] = [];
    const traceRss = async (): Promise<void> => {
      const rssKiB: Record<string, number> = {};
      for (const [node, s] of sites) {
        if (s.agent !== undefined) rssKiB[node] = (await processFigures(s.agent.process.pid).catch(() => undefined))?.rssKiB ?? Number.NaN;
      }
      rssTrace.push({ atMs: since(), rssKiB });
      if (rssTrace.length % HEAP_SAMPLE_EVERY === 1) {
        const byNode: Record<string, HeapFigures> = {};
        for (const [node, s] of sites) {
          const text = s.agent === undefined ? undefined : await s.agent.metrics().catch(() => undefined);
          if (text !== undefined) byNode[node] = heapFigures(text);
        }
        heapTrace.push({ atMs: since(), byNode });
      }
    };
    let sampling = false;
    rssSampler = setInterval(() => {
      if (sampling) return;
      sampling = true;
      void traceRss().finally(() => { sampling = false; });
    }, RSS_SAMPLE_MS);
    let takeover: TakeoverReport | undefined;
    const takeOver = async (): Promise<TakeoverReport> => {
      const status = (await volume()).status;
      const from = status?.currentPrimary;
      const to = status?.roles?.secondary?.node;
      if (from === undefined || to === undefined) throw new Error(`no primary or secondary to take over: ${JSON.stringify(status)}`);
      const atMs = since();
      const bytesAtKill = await ackBytes(ackLog);
      const killed = site(from);
      const killedAt = Date.now();
      await agentOf(from).kill();
      killed.agent = undefined;
      await markNodeNotReady(from);
      log(`soak: takeover: killed the agent on ${from} (kill -9) at ${Math.round(atMs / 1000)} s, Node NotReady`);
      const target = agentOf(to);
      const recorded = await waitFor('the takeover to be recorded', async () => {
        const rv = await volume();
        return rv.status?.lastTakeover !== undefined && rv.status.endpoint?.address === `${target.host}:${target.nbdPort}` ? rv : undefined;
      }, { timeoutMs: 60_000, intervalMs: 100 });
      const killToRecordedMs = Date.now() - killedAt;
      await waitFor('writes to go on after the takeover', async () => ((await ackBytes(ackLog)) > bytesAtKill ? true : undefined), { timeoutMs: 30_000, intervalMs: 20 });
      const killToWritesMs = Date.now() - killedAt;
      log(`soak: takeover to ${to} recorded ${killToRecordedMs} ms after the kill, writes going on after ${killToWritesMs} ms`);
      const restartedAt = Date.now();
      await startSiteAgent(killed);
      await ensureReadyNode(from);
      log(`soak: agent on ${from} restarted, Node Ready; waiting for the failback`);
      const back = await waitFor('the failback (resync) to finish', async () => {
        const rv = await volume();
        const r = rv.status?.resync;
        return r?.state === 'Finished' && r.targetNode === from && rv.status?.phase === 'Ready' && rv.status.roles?.secondary?.node === from ? rv : undefined;
      }, { timeoutMs: 180_000, intervalMs: 200 });
      const restartToFailbackMs = Date.now() - restartedAt;
      failbackDoneAtMs = since();
      log(`soak: failback of ${from} finished ${restartToFailbackMs} ms after its restart (copied ${back.status?.resync?.bytesCopied ?? '?'} bytes)`);
      return {
        fromNode: from, toNode: to, atMs, killToRecordedMs, killToWritesMs, restartToFailbackMs,
        record: recorded.status?.lastTakeover, resync: back.status?.resync,
      };
    };

    const kinds: FaultKind[] = ['stall', 'far-delay', 'slow-sync'];
    const stopped = new Set<number>();
    let next = 0;
    const EPISODE_MS = 3_000;
    const GAP_MS = 3_000;
    while (Date.now() < endAt - 1_000) {
      if (warm.size === 0 && takeover !== undefined && since() >= Math.max(warmUpAtMs, failbackDoneAtMs + 5_000)) {
        for (const [node, s] of sites) if (s.agent !== undefined) warm.set(node, await processFigures(s.agent.process.pid));
        if (operator !== undefined) operatorWarm = await processFigures(operator.process.pid);
        warmSampledAtMs = since();
        log(`soak: warm-up at ${Math.round(since() / 1000)} s: ${[...warm].map(([n, f]) => `${n} RSS ${f.rssKiB} KiB, ${f.fds} fds`).join('; ')}`);
        continue;
      }
      if (takeover === undefined && since() >= takeoverAtMs) {
        takeover = await takeOver();
        continue;
      }
      const kind = kinds[next % kinds.length] ?? 'stall';
      next += 1;
      const roles = (await volume()).status?.roles;
      const target = kind === 'slow-sync' ? roles?.bunker?.node : roles?.secondary?.node;
      const targetSite = target === undefined ? undefined : sites.get(target);
      if (target === undefined || targetSite?.agent === undefined || (kind === 'far-delay' && targetSite.relay === undefined)) {
        log(`soak: ${kind} skipped at ${Math.round(since() / 1000)} s (no agent in that role: ${JSON.stringify(roles)})`);
        await sleep(Math.min(GAP_MS, endAt - Date.now()));
        continue;
      }
      const length = Math.min(EPISODE_MS, endAt - Date.now() - 500);
      if (length < 500) break;
      const atMs = since();
      const acksBefore = await ackCount(ackLog);
      try {
        if (kind === 'stall') {
          stopped.add(targetSite.agent.process.pid);
          process.kill(targetSite.agent.process.pid, 'SIGSTOP');
        } else if (kind === 'far-delay') {
          targetSite.relay?.setDelay(60);
        } else {
          await writeFile(targetSite.faultFile, JSON.stringify({ log: { delayMs: 40, delayOps: ['sync'] } }));
        }
        await sleep(length);
      } finally {
        if (kind === 'stall') {
          process.kill(targetSite.agent.process.pid, 'SIGCONT');
          stopped.delete(targetSite.agent.process.pid);
        } else if (kind === 'far-delay') {
          targetSite.relay?.setDelay(0);
        } else {
          await writeFile(targetSite.faultFile, '{}');
        }
      }
      const acksAtEnd = await ackCount(ackLog);
      const episode: FaultEpisode = { kind, node: target, atMs, durationMs: length, acksDuring: acksAtEnd - acksBefore, acksAfter: 0 };
      episodes.push(episode);
      const gap = Math.min(length, endAt - Date.now());
      await sleep(gap);
      episode.acksAfter = gap < length ? Number.NaN : (await ackCount(ackLog)) - acksAtEnd;
      log(`soak: ${kind} on ${target} at ${Math.round(atMs / 1000)} s for ${length} ms: ${episode.acksDuring} writes acknowledged meanwhile, ${episode.acksAfter} in as long after`);
    }

    if (warm.size === 0) throw new Error('the run ended before the warm-up sample (the failback took too long?)');

    // 4. The writer's end, then the volume settles: Ready, every replica holding everything.
    const wrote = await writer.done;
    const writerSummary = `${wrote.stderr.trim().split('\n').filter((l) => l.startsWith('issued')).at(-1) ?? 'no summary'} (exit ${wrote.code ?? wrote.signal})`;
    const acknowledged = await ackCount(ackLog);
    log(`soak: writer done at ${Math.round(since() / 1000)} s: ${acknowledged} acknowledged; ${writerSummary}`);
    for (const s of sites.values()) {
      s.relay?.setDelay(0);
      await writeFile(s.faultFile, '{}');
    }
    const settleStart = Date.now();
    const settled = await waitFor('the volume to settle', async () => {
      const rv = await volume();
      const st = rv.status;
      if (st?.phase !== 'Ready' || st.resync?.state === 'Running' || st.currentPrimary === undefined || st.roles?.secondary === undefined) return undefined;
      const p = await held(st.currentPrimary);
      const secondary = await held(st.roles.secondary.node);
      const bunker = st.roles.bunker === undefined ? undefined : await held(st.roles.bunker.node);
      if (p === undefined || secondary === undefined || bunker === undefined || p.role !== Role.ROLE_PRIMARY) return undefined;
      const top = p.durableSeq;
      return p.appliedSeq === top && p.bunkerDurableSeq === top && p.secondaryAppliedSeq === top && secondary.appliedSeq === top && bunker.durableSeq === top ? rv : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250 }).catch(async (error: unknown) => {
      // What each side said, for whoever reads the failure.
      const st = (await volume().catch(() => undefined))?.status;
      log(`soak: did not settle: ${JSON.stringify({ phase: st?.phase, lag: st?.lag, roles: st?.roles, resync: st?.resync?.state })}`);
      for (const [node, s] of sites) {
        const v = s.agent === undefined ? undefined : await held(node).catch((e: unknown) => String(e));
        log(`soak:   ${node}: ${JSON.stringify(v)}; relay ${s.relay === undefined ? '-' : `${s.relay.openConnections()} connections, delay ${s.relay.delayMs()} ms`}`);
      }
      throw error;
    });
    await sleep(3_000);
    const settleMs = Date.now() - settleStart;

    // 5. The figures at the end, the acknowledged writes checked.
    const finalStatus = settled.status;
    clearInterval(rssSampler);
    await traceRss();
    const endSampledAtMs = since();
    const windowMs = Math.max(5_000, Math.min(20_000, (endSampledAtMs - warmSampledAtMs) / 4));
    const agents: AgentReport[] = [];
    for (const [node, s] of sites) {
      const warmPoint = warm.get(node);
      const endPoint = s.agent === undefined ? undefined : await processFigures(s.agent.process.pid);
      const before = warmPoint === undefined ? undefined : { ...warmPoint, rssKiB: medianRss(rssTrace, node, warmSampledAtMs, warmSampledAtMs + windowMs) ?? warmPoint.rssKiB };
      const end = endPoint === undefined ? undefined : { ...endPoint, rssKiB: medianRss(rssTrace, node, endSampledAtMs - windowMs, endSampledAtMs) ?? endPoint.rssKiB };
      const ranWholeTime = before !== undefined && end !== undefined && before.pid === end.pid;
      const role = s.agent === undefined ? 'down' : roleName((await held(node))?.role);
      agents.push({
        node, role, ranWholeTime, warm: before, end,
        rssOk: !ranWholeTime || (end.rssKiB <= before.rssKiB * (1 + RSS_TOLERANCE) && end.rssKiB >= before.rssKiB * (1 - RSS_TOLERANCE)),
        fdsOk: !ranWholeTime || end.fds <= before.fds + FD_SLACK,
      });
    }
    const operatorEnd = operator === undefined ? undefined : await processFigures(operator.process.pid);
    const primaryNodeEnd = finalStatus?.currentPrimary ?? '';
    const secondaryNodeEnd = finalStatus?.roles?.secondary?.node;
    const primary = { node: primaryNodeEnd, ...(await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath(primaryNodeEnd), offset, length))) };
    const secondary = secondaryNodeEnd === undefined ? undefined
      : { node: secondaryNodeEnd, ...(await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath(secondaryNodeEnd), offset, length))) };
    const events: unknown = JSON.parse(await kubectlOk(['-n', namespace, 'get', 'events', '-o', 'json']));
    const items = typeof events === 'object' && events !== null && 'items' in events && Array.isArray(events.items) ? (events.items as unknown[]) : [];
    const takeoverEvents = items
      .map((item) => item as { reason?: string; count?: number; involvedObject?: { name?: string; kind?: string } })
      .filter((e) => e.reason === 'TakeoverStarted' && e.involvedObject?.name === name)
      .reduce((sum, e) => sum + (e.count ?? 1), 0);
    return {
      volume: volumeId, durationMs: options.durationMs, warmUpAtMs, warmSampledAtMs, rssTrace, heapTrace, acknowledged, writerSummary, primary, secondary, episodes, takeover, takeoverEvents,
      settleMs, agents, operator: { warm: operatorWarm, end: operatorEnd }, finalStatus, totalMs: Date.now() - started,
    };
  } finally {
    clearInterval(rssSampler);
    // Everything the run started, whatever happened: no agent left stopped, no fault left on.
    for (const s of sites.values()) {
      if (s.agent !== undefined) {
        try { process.kill(s.agent.process.pid, 'SIGCONT'); } catch { /* already gone */ }
      }
      s.relay?.setDelay(0);
      await writeFile(s.faultFile, '{}').catch(() => undefined);
    }
    if (writer !== undefined && writer.child.exitCode === null && writer.child.signalCode === null) writer.child.kill('SIGKILL');
    await writer?.done;
    await proxy?.close();
    if (operator?.alive() === true) await kubectl(['-n', namespace, 'delete', 'replicatedvolume', name, '--ignore-not-found', '--timeout', '30s']);
    await operator?.stop();
    await Promise.all([...sites.values()].map((s) => s.agent?.stop()));
    for (const s of sites.values()) await s.relay?.close();
    await link?.destroy();
    for (const node of nodes) await ensureReadyNode(node).catch(() => undefined);
  }
}

const mib = (kib: number | undefined): string => (kib === undefined ? '-' : (kib / 1024).toFixed(1));

/** The checks of a run; empty when it passed. */
export function soakFailures(r: SoakResult): string[] {
  const failures: string[] = [];
  if (r.primary.blocksChecked === 0) failures.push('no acknowledged write to check');
  if (r.primary.lost.length > 0) failures.push(`${r.primary.lost.length} acknowledged writes lost on the final primary ${r.primary.node}: ${JSON.stringify(r.primary.lost.slice(0, 5))}`);
  if (r.secondary === undefined) failures.push('no secondary at the end');
  else if (r.secondary.lost.length > 0) failures.push(`${r.secondary.lost.length} acknowledged writes missing on the final secondary ${r.secondary.node}: ${JSON.stringify(r.secondary.lost.slice(0, 5))}`);
  if (r.takeover === undefined) failures.push('the takeover did not happen');
  if (r.takeoverEvents !== 1) failures.push(`${r.takeoverEvents} TakeoverStarted events, expected exactly 1`);
  if (r.takeover?.record?.acknowledgedWritesLost !== 0) failures.push(`takeover record: ${JSON.stringify(r.takeover?.record)}`);
  for (const kind of ['stall', 'far-delay', 'slow-sync'] as const) if (!r.episodes.some((e) => e.kind === kind)) failures.push(`no ${kind} fault episode ran`);
  const checked = r.agents.filter((a) => a.ranWholeTime);
  if (checked.length < 2) failures.push(`only ${checked.length} agents ran the whole time`);
  for (const a of checked) {
    if (!a.rssOk) failures.push(`${a.node}: RSS ${a.warm?.rssKiB} KiB after warm-up, ${a.end?.rssKiB} KiB at the end (more than ${RSS_TOLERANCE * 100}% apart)`);
    if (!a.fdsOk) failures.push(`${a.node}: ${a.warm?.fds} fds after warm-up, ${a.end?.fds} at the end (more than +${FD_SLACK})`);
  }
  return failures;
}

export function soakTable(r: SoakResult): string {
  const lines: string[] = [];
  const pad = (cells: readonly string[], widths: readonly number[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 10)).join(' | ').trimEnd();
  lines.push(`soak summary: ${r.volume}, writer ${Math.round(r.durationMs / 1000)} s (warm-up sample at ${Math.round(r.warmSampledAtMs / 1000)} s), ${Math.round(r.totalMs / 1000)} s in all`);
  lines.push(`  writes: ${r.acknowledged} acknowledged; ${r.writerSummary}`);
  lines.push(`  verified on the final primary ${r.primary.node}: ${r.primary.blocksChecked} blocks, lost ${r.primary.lost.length}`);
  lines.push(`  verified on the final secondary ${r.secondary?.node ?? '-'}: ${r.secondary?.blocksChecked ?? '-'} blocks, lost ${r.secondary?.lost.length ?? '-'}`);
  const t = r.takeover;
  lines.push(t === undefined ? '  takeover: none' :
    `  takeover at ${Math.round(t.atMs / 1000)} s: ${t.fromNode} -> ${t.toNode}, kill -> recorded ${t.killToRecordedMs} ms, kill -> writes again ${t.killToWritesMs} ms, ` +
    `restart -> failback done ${t.restartToFailbackMs} ms (resync ${t.resync?.scope ?? '?'}, copied ${t.resync?.bytesCopied ?? '?'} of ${t.resync?.bytesTotal ?? '?'} bytes); ` +
    `operator: ${t.record?.reason ?? '?'}, ${t.record?.entriesReplayed ?? '?'} entries replayed, ${t.record?.acknowledgedWritesLost ?? '?'} lost; TakeoverStarted events ${r.takeoverEvents}`);
  const byKind = new Map<string, FaultEpisode[]>();
  for (const e of r.episodes) byKind.set(e.kind, [...(byKind.get(e.kind) ?? []), e]);
  const sum = (es: readonly FaultEpisode[], f: (e: FaultEpisode) => number): number => es.reduce((s, e) => s + (Number.isNaN(f(e)) ? 0 : f(e)), 0);
  lines.push(`  faults: ${[...byKind].map(([k, es]) => `${k} x${es.length} on ${[...new Set(es.map((e) => e.node))].join(',')} (writes acked: ${sum(es, (e) => e.acksDuring)} during, ${sum(es, (e) => e.acksAfter)} in as long after)`).join('; ') || 'none'}`);
  const step = Math.max(1, Math.ceil(r.rssTrace.length / 12));
  const shown = r.rssTrace.filter((_, i) => i % step === 0 || i === r.rssTrace.length - 1);
  const traced = [...new Set(r.rssTrace.flatMap((t) => Object.keys(t.rssKiB)))].sort();
  for (const node of traced) lines.push(`  RSS MiB ${node}: ${shown.map((t) => `${Math.round(t.atMs / 1000)}s ${mib(t.rssKiB[node])}`).join(', ')}`);
  const heapStep = Math.max(1, Math.ceil(r.heapTrace.length / 8));
  const heapShown = r.heapTrace.filter((_, i) => i % heapStep === 0 || i === r.heapTrace.length - 1);
  for (const node of traced) {
    const cells = heapShown.map((t) => {
      const h = t.byNode[node];
      return h === undefined ? `${Math.round(t.atMs / 1000)}s -` : `${Math.round(t.atMs / 1000)}s ${h.usedMiB.toFixed(0)}/${h.totalMiB.toFixed(0)}/${h.newSpaceMiB.toFixed(0)}/${h.externalMiB.toFixed(0)}`;
    });
    lines.push(`  heap MiB used/total/new space/external ${node}: ${cells.join(', ')}`);
  }
  lines.push(`  settled ${r.settleMs} ms after the writer stopped: phase ${r.finalStatus?.phase}, primary ${r.finalStatus?.currentPrimary}, epoch ${r.finalStatus?.epoch}`);
  const widths = [8, 10, 9, 12, 10, 8, 9, 7, 6];
  lines.push(`  ${pad(['node', 'role', 'whole run', 'RSS warm MiB', 'RSS end MiB', 'RSS %', 'fds warm', 'fds end', 'check'], widths)}`);
  for (const a of r.agents) {
    const change = a.warm === undefined || a.end === undefined ? '-' : `${(((a.end.rssKiB - a.warm.rssKiB) / a.warm.rssKiB) * 100).toFixed(1)}`;
    const verdict = !a.ranWholeTime ? 'n/a' : a.rssOk && a.fdsOk ? 'ok' : 'FAIL';
    lines.push(`  ${pad([a.node, a.role, a.ranWholeTime ? 'yes' : 'no', mib(a.warm?.rssKiB), mib(a.end?.rssKiB), change, String(a.warm?.fds ?? '-'), String(a.end?.fds ?? '-'), verdict], widths)}`);
  }
  const o = r.operator;
  lines.push(`  ${pad(['operator', '-', 'yes', mib(o.warm?.rssKiB), mib(o.end?.rssKiB), o.warm === undefined || o.end === undefined ? '-' : (((o.end.rssKiB - o.warm.rssKiB) / o.warm.rssKiB) * 100).toFixed(1), String(o.warm?.fds ?? '-'), String(o.end?.fds ?? '-'), 'info'], widths)}`);
  const failures = soakFailures(r);
  lines.push(failures.length === 0 ? '  result: PASS' : `  result: FAIL\n${failures.map((f) => `    - ${f}`).join('\n')}`);
  return lines.join('\n');
}

/** The median of a node's RSS samples taken in [fromMs, toMs], or undefined if there are none. */
function medianRss(trace: readonly RssSample[], node: string, fromMs: number, toMs: number): number | undefined {
  const values = trace.filter((t) => t.atMs >= fromMs && t.atMs <= toMs).map((t) => t.rssKiB[node]).filter((v): v is number => v !== undefined && Number.isFinite(v)).sort((a, b) => a - b);
  if (values.length === 0) return undefined;
  const middle = Math.floor(values.length / 2);
  return values.length % 2 === 1 ? values[middle] : ((values[middle - 1] ?? 0) + (values[middle] ?? 0)) / 2;
}

function heapFigures(metrics: string): HeapFigures {
  const value = (pattern: RegExp): number => Number(pattern.exec(metrics)?.[1] ?? Number.NaN) / (1024 * 1024);
  return {
    usedMiB: value(/^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)$/m),
    totalMiB: value(/^nodejs_heap_size_total_bytes(?:\{[^}]*\})? (\S+)$/m),
    newSpaceMiB: value(/^nodejs_heap_space_size_total_bytes\{[^}]*space="new"[^}]*\} (\S+)$/m),
    externalMiB: value(/^nodejs_external_memory_bytes(?:\{[^}]*\})? (\S+)$/m),
  };
}
