// Chaos runs of the kill -9 takeover under the real operator (issue 8), shared by the jest test
// (test/integration/operator-takeover-chaos.test.ts) and `npm run chaos` (scripts/chaos.ts).
// One operator and four agents serve every run, so a run costs only its own volume: run i places
// primary, bunker and secondary on nodes i, i+1, i+2 (mod 4), writes verifiable blocks to the
// primary for a seeded random 0.5–3 s, kills the primary agent with SIGKILL and marks its Node
// NotReady, and waits for the operator's takeover. Its figures: acknowledged writes lost on the
// new primary's data file (must be 0), kill to the new primary serving NBD (its agent's Status),
// kill to status.lastTakeover recorded. The killed agent is restarted, its Node made Ready and the
// run's volume deleted in the background, while the next run (which does not use that node)
// goes on; a run that needs the node waits for that first.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Role } from '@bunker/proto';
import type { ReplicatedVolume, TakeoverRecord } from '../../operator/src/api/index.js';
import { startAgent, type AgentProcess } from './agent-process.js';
import { repoRoot } from './control-plane.js';
import { kubectl } from './kubectl.js';
import { runClient } from './nbd-clients.js';
import {
  ensureNamespace, ensureReadyNode, installCrd, kubectlOk, markNodeNotReady, startOperator, testLinkAddress, type OperatorProcess,
} from './operator-process.js';
import { volumeReader } from './volume-reader.js';
import { waitFor } from './wait-for.js';
import { readFileRange, verifyAcknowledged } from './write-verifier.js';

export interface ChaosOptions {
  readonly kubeconfigPath: string;
  readonly baseDir: string;
  /** Namespace of the volumes. */
  readonly namespace: string;
  /** Namespace of the agents' Leases. */
  readonly operatorNamespace: string;
  /** Four node names. */
  readonly nodes: readonly string[];
  /** testLinkAddress subnet. */
  readonly subnet: number;
  readonly gracePeriodSeconds?: number;
}

export interface ChaosEnvironment {
  readonly options: ChaosOptions;
  readonly agents: Map<string, AgentProcess>;
  /** Restarts of killed agents still under way, by node. */
  readonly restarting: Map<string, Promise<void>>;
  operator: OperatorProcess | undefined;
  readonly kubeConfig: KubeConfig;
  host: string;
  destroyLink: (() => Promise<void>) | undefined;
}

export interface ChaosRunResult {
  readonly run: number;
  readonly volume: string;
  readonly primary: string;
  readonly target: string;
  /** How long the writer wrote before the kill (the chosen delay). */
  readonly writeMs: number;
  /** The volume applied to Ready. */
  readonly readyMs: number;
  /** Replicas each agent held at the end of the run (finished runs' volumes should be released). */
  readonly replicasPerAgent: Readonly<Record<string, number>>;
  readonly acknowledged: number;
  readonly blocksChecked: number;
  readonly lost: number;
  readonly lostDetail: ReadonlyArray<{ offset: number; acknowledged: number; found: string }>;
  /** SIGKILL of the primary to the new primary's agent reporting it serves NBD in the new epoch. */
  readonly killToServingMs: number;
  /** SIGKILL to status.lastTakeover recorded with the endpoint on the new primary. */
  readonly killToRecordedMs: number;
  readonly lastTakeover: TakeoverRecord | undefined;
  readonly status: ReplicatedVolume['status'];
}

/** mulberry32: a small seeded generator, so a seed replays the same timings. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The kill delay of each run of a seed: 500–3000 ms. */
export function killDelays(seed: number, runs: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: runs }, () => 500 + Math.floor(random() * 2_501));
}

function agentOf(env: ChaosEnvironment, node: string): AgentProcess {
  const found = env.agents.get(node);
  if (found === undefined) throw new Error(`no agent on ${node}`);
  return found;
}

async function startNodeAgent(env: ChaosEnvironment, node: string): Promise<void> {
  const { kubeconfigPath, baseDir, operatorNamespace } = env.options;
  env.agents.set(node, await startAgent({ node, baseDir, kubeconfig: kubeconfigPath, namespace: operatorNamespace, host: env.host }));
}

/** CRD, namespaces, Ready Nodes, a link address, four agents and one operator. */
export async function startChaosEnvironment(options: ChaosOptions): Promise<ChaosEnvironment> {
  if (options.nodes.length !== 4) throw new Error('chaos runs rotate over four nodes');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(options.kubeconfigPath);
  const env: ChaosEnvironment = { options, kubeConfig, agents: new Map(), restarting: new Map(), operator: undefined, host: '', destroyLink: undefined };
  await installCrd();
  await ensureNamespace(options.operatorNamespace);
  await ensureNamespace(options.namespace);
  for (const node of options.nodes) await ensureReadyNode(node);
  const link = await testLinkAddress(options.subnet);
  env.host = link.host;
  env.destroyLink = () => link.destroy();
  for (const node of options.nodes) await startNodeAgent(env, node);
  env.operator = await startOperator({
    identity: `chaos-${process.pid}`, baseDir: options.baseDir, kubeconfig: options.kubeconfigPath, namespace: options.operatorNamespace,
    volumeNamespaces: [options.namespace], leaderElect: false,
  });
  return env;
}

/** Stops everything startChaosEnvironment and the runs started; safe to call on a partial one. */
export async function stopChaosEnvironment(env: ChaosEnvironment | undefined): Promise<void> {
  if (env === undefined) return;
  await Promise.allSettled([...env.restarting.values()]);
  if (env.operator?.alive() === true) {
    await kubectl(['-n', env.options.namespace, 'delete', 'replicatedvolumes', '--all', '--timeout', '30s', '--wait=false']);
  }
  await env.operator?.stop();
  await Promise.all([...env.agents.values()].map((a) => a.stop()));
  env.agents.clear();
  await env.destroyLink?.();
  for (const node of env.options.nodes) await ensureReadyNode(node).catch(() => undefined);
}

async function ackLines(path: string): Promise<number> {
  return (await readFile(path, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '').length;
}

/**
 * One run: a fresh volume named `${prefix}-${run}` on nodes run, run+1, run+2 (mod 4), writes for
 * `writeMs`, kill -9 of the primary, the operator's takeover, the check of every acknowledged write.
 */
export async function chaosRun(env: ChaosEnvironment, run: number, writeMs: number, prefix: string): Promise<ChaosRunResult> {
  const { nodes, namespace } = env.options;
  const node = (k: number): string => nodes[(run + k) % nodes.length] ?? '';
  const [primary, bunker, target] = [node(0), node(1), node(2)];
  for (const n of [primary, bunker, target]) await env.restarting.get(n);
  const name = `${prefix}-${run}`;
  const appliedAt = Date.now();
  const readVolume = volumeReader(env.kubeConfig);
  await kubectlOk(['-n', namespace, 'apply', '-f', '-'], JSON.stringify({
    apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
    spec: {
      // Delete: a finished run's files go with its volume, so agents restarted later do not reopen
      // them (with Retain an agent reopens a released volume's files at start: see the report).
      size: '16Mi', log: { size: '64Mi' }, reclaimPolicy: 'Delete', failover: { gracePeriodSeconds: env.options.gracePeriodSeconds ?? 1 },
      placement: { primary: { node: primary }, bunker: { node: bunker }, secondary: { node: target } },
    },
  }));
  await waitFor(`${name} to be Ready`, async () => ((await readVolume(namespace, name)).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
  const readyMs = Date.now() - appliedAt;

  const ackLog = join(env.options.baseDir, `${name}.acks`);
  const writer = runClient('/usr/bin/python3', [
    join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', `nbd://${agentOf(env, primary).host}:${agentOf(env, primary).nbdPort}/${namespace}/${name}`,
    '--blocks', '1024', '--seconds', '30', '--ack-log', ackLog, '--seed', String(run + 1),
  ], { timeoutMs: 60_000 });
  await waitFor('the first acknowledged write', async () => ((await ackLines(ackLog)) > 0 ? true : undefined), { timeoutMs: 20_000, intervalMs: 20 });
  await new Promise((resolve) => setTimeout(resolve, writeMs));

  const killed = agentOf(env, primary);
  const killedAt = Date.now();
  await killed.kill();
  env.agents.delete(primary);
  await markNodeNotReady(primary);

  const newPrimary = agentOf(env, target);
  const volumeId = `${namespace}/${name}`;
  await waitFor(`${target} to serve ${name}`, async () => {
    const held = (await newPrimary.status()).volumes.find((v) => v.volume === volumeId);
    return held !== undefined && held.role === Role.ROLE_PRIMARY && held.epoch === 2 && held.nbdAddress !== '' ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 50 });
  const killToServingMs = Date.now() - killedAt;
  const done = await waitFor('the takeover to be recorded', async () => {
    const rv = await readVolume(namespace, name);
    return rv.status?.lastTakeover !== undefined && rv.status.endpoint?.address === `${newPrimary.host}:${newPrimary.nbdPort}` ? rv : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  const killToRecordedMs = Date.now() - killedAt;
  await writer;

  const dataPath = join(newPrimary.dataDir, 'volumes', `${namespace}__${name}`, 'data.img');
  const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath, offset, length));

  const replicasPerAgent: Record<string, number> = {};
  for (const [n, a] of env.agents) replicasPerAgent[n] = (await a.status().catch(() => ({ volumes: [] }))).volumes.length;

  // In the background: the killed node comes back and the run's volume goes.
  env.restarting.set(primary, (async () => {
    await startNodeAgent(env, primary);
    await ensureReadyNode(primary);
    await kubectlOk(['-n', namespace, 'delete', 'replicatedvolume', name, '--wait=false']);
  })().finally(() => env.restarting.delete(primary)));

  return {
    run, volume: name, primary, target, writeMs, readyMs, replicasPerAgent, acknowledged: await ackLines(ackLog), blocksChecked: result.blocksChecked,
    lost: result.lost.length, lostDetail: result.lost.slice(0, 5), killToServingMs, killToRecordedMs,
    lastTakeover: done.status?.lastTakeover, status: done.status,
  };
}

/**
 * What is left once the background restarts and deletions are done: the volumes still in the
 * apiserver and every replica each agent still holds (a finished run's volume is deleted, so
 * its replicas should be released). For long runs: a leak shows here.
 */
export async function leftovers(env: ChaosEnvironment, settleMs = 5_000): Promise<{ volumes: string[]; replicas: Record<string, string[]> }> {
  await Promise.allSettled([...env.restarting.values()]);
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const listed: unknown = JSON.parse(await kubectlOk(['-n', env.options.namespace, 'get', 'replicatedvolumes', '-o', 'json']));
  const items = typeof listed === 'object' && listed !== null && 'items' in listed && Array.isArray(listed.items) ? (listed.items as unknown[]) : [];
  const volumes = items.map((item) => {
    const rv = item as { metadata?: { name?: string; deletionTimestamp?: string }; status?: { phase?: string } };
    return `${rv.metadata?.name ?? '?'} (${rv.metadata?.deletionTimestamp === undefined ? rv.status?.phase ?? '?' : 'being deleted'})`;
  });
  const replicas: Record<string, string[]> = {};
  for (const [node, agent] of env.agents) {
    const held = (await agent.status().catch(() => ({ volumes: [] }))).volumes;
    replicas[node] = held.map((v) => `${v.volume} role ${v.role} epoch ${v.epoch}${v.nbdAddress === '' ? '' : ' serving'}`);
  }
  return { volumes, replicas };
}

export function describeRun(r: ChaosRunResult): string {
  return `chaos run ${r.run}: ${r.volume} ${r.primary} -> ${r.target}, killed after ${r.writeMs} ms of writes; ` +
    `${r.acknowledged} acknowledged writes (${r.blocksChecked} blocks), lost ${r.lost}; ` +
    `takeover kill -> new primary serving NBD ${r.killToServingMs} ms, kill -> lastTakeover recorded ${r.killToRecordedMs} ms ` +
    `(operator: ${r.lastTakeover?.durationSeconds ?? '?'} s, ${r.lastTakeover?.entriesReplayed ?? '?'} entries replayed); ` +
    `created to Ready ${r.readyMs} ms; replicas held ${JSON.stringify(r.replicasPerAgent)}`;
}

export function summarize(results: readonly ChaosRunResult[]): string {
  if (results.length === 0) return 'no chaos run finished';
  const serving = results.map((r) => r.killToServingMs).sort((a, b) => a - b);
  const pick = (q: number): number => serving[Math.min(serving.length - 1, Math.floor(q * serving.length))] ?? 0;
  return `${results.length} chaos runs: lost writes ${results.reduce((s, r) => s + r.lost, 0)} in all; ` +
    `kill -> serving min ${serving[0]} ms, median ${pick(0.5)} ms, p90 ${pick(0.9)} ms, max ${serving[serving.length - 1]} ms`;
}
