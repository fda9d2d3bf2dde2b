// A volume's life under the real operator: the operator process (operator/dist) and three
// real agent processes run out of cluster against the run's apiserver; the test plays the
// kubelets by creating Node objects that report Ready. Method: act as a user would (kubectl
// apply, get, delete) and assert the state of the world (the object's status, Events, the
// Service and EndpointSlice, what each agent says it holds, the files on disk), never which
// calls the operator made. Every wait is bounded.
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseReplicatedVolume, type ReplicatedVolume } from '../../operator/src/api/index.js';
import { startAgent, type AgentProcess } from '../support/agent-process.js';
import { repoRoot } from '../support/control-plane.js';
import { testCluster } from '../support/cluster.js';
import { kubectl } from '../support/kubectl.js';
import {
  buildWorkspace, ensureNamespace, ensureReadyNode, installCrd, testLinkAddress, startOperator, type OperatorProcess,
} from '../support/operator-process.js';
import { waitFor } from '../support/wait-for.js';

const namespace = 'operator-lifecycle';
const operatorNamespace = 'bunker-system';
const sites = ['site-a', 'site-b', 'site-c'] as const;

let baseDir: string;
let operator: OperatorProcess;
const agents = new Map<string, AgentProcess>();

async function ok(args: readonly string[], input?: string): Promise<string> {
  const result = await kubectl(['-n', namespace, ...args], input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

async function volume(name: string): Promise<ReplicatedVolume> {
  return parseReplicatedVolume(JSON.parse(await ok(['get', 'replicatedvolume', name, '-o', 'json'])));
}

function condition(rv: ReplicatedVolume, type: string): string {
  const found = rv.status?.conditions?.find((c) => c.type === type);
  return found === undefined ? 'absent' : `${found.status}/${found.reason}`;
}

async function eventReasons(name: string): Promise<string[]> {
  const list: unknown = JSON.parse(await ok(['get', 'events', '--field-selector', `involvedObject.name=${name}`, '-o', 'json']));
  if (typeof list !== 'object' || list === null || !('items' in list) || !Array.isArray(list.items)) return [];
  return list.items.flatMap((item: unknown) => (typeof item === 'object' && item !== null && 'reason' in item && typeof item.reason === 'string' ? [item.reason] : []));
}

async function heldVolumes(agent: AgentProcess): Promise<Map<string, { role: number; epoch: number }>> {
  const status = await agent.status();
  return new Map(status.volumes.map((v) => [v.volume, { role: v.role, epoch: v.epoch }]));
}

function agent(node: string): AgentProcess {
  const found = agents.get(node);
  if (found === undefined) throw new Error(`no agent on ${node}`);
  return found;
}

function manifest(name: string, placement: readonly [string, string, string], extra: object = {}): string {
  const [primary, bunker, secondary] = placement;
  return JSON.stringify({
    apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
    spec: { size: '64Mi', placement: { primary: { node: primary }, bunker: { node: bunker }, secondary: { node: secondary } }, log: { size: '16Mi' }, ...extra },
  });
}

async function waitReady(name: string, timeoutMs = 60_000): Promise<ReplicatedVolume> {
  return waitFor(`${name} to be Ready`, async () => {
    const rv = await volume(name);
    return rv.status?.phase === 'Ready' && condition(rv, 'Ready') === 'True/VolumeReady' ? rv : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

let link: { readonly host: string; destroy(): Promise<void> } | undefined;

beforeAll(async () => {
  await buildWorkspace();
  await installCrd();
  await ensureNamespace(operatorNamespace);
  await ensureNamespace(namespace);
  // site-d is a Ready node on which no agent runs.
  for (const node of [...sites, 'site-d']) await ensureReadyNode(node);
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-operator-lifecycle-'));
  const { kubeconfigPath } = testCluster();
  link = await testLinkAddress(60);
  const host = link.host;
  for (const node of sites) agents.set(node, await startAgent({ node, baseDir, kubeconfig: kubeconfigPath, namespace: operatorNamespace, host }));
  operator = await startOperator({
    identity: 'lifecycle', baseDir, kubeconfig: kubeconfigPath, namespace: operatorNamespace, volumeNamespaces: [namespace], leaderElect: false,
  });
}, 360_000);

afterAll(async () => {
  // While the operator runs, so that finalizers are honoured and nothing is left stuck.
  if (operator?.alive() === true) await kubectl(['-n', namespace, 'delete', 'replicatedvolumes', '--all', '--timeout', '30s']);
  await operator?.stop();
  await Promise.all([...agents.values()].map((a) => a.stop()));
  await link?.destroy();
  if (baseDir !== undefined) await rm(baseDir, { recursive: true, force: true });
}, 90_000);

describe('the operator reconciling a volume', () => {
  it('brings the example to Ready, with Replicating and RecoveryCopyInSync True', async () => {
    await ok(['apply', '-f', join(repoRoot, 'examples/replicated-volume.yaml')]);
    const rv = await waitReady('demo');
    expect(['Ready', 'Replicating', 'RecoveryCopyInSync', 'Degraded'].map((type) => condition(rv, type))).toEqual([
      'True/VolumeReady', 'True/Replicating', 'True/InSync', 'False/FullyProtected',
    ]);
    expect(rv.status).toMatchObject({ epoch: 1, observedGeneration: rv.metadata.generation, currentPrimary: 'site-a', lag: { entries: 0 } });
    expect(rv.metadata.finalizers).toContain('replication.bunker.dev/release');
    expect(await eventReasons('demo')).toEqual(expect.arrayContaining(['EpochRecorded', 'RoleConfigured', 'VolumeReady']));
  }, 90_000);

  it('shows the printer columns with values in kubectl get rv', async () => {
    const [header, row] = (await ok(['get', 'rv', 'demo'])).trim().split('\n').map((line) => line.trim().split(/\s+/));
    expect(header).toEqual(['NAME', 'PHASE', 'PRIMARY', 'BUNKER', 'SECONDARY', 'LAG', 'AGE']);
    expect(row?.slice(0, 6)).toEqual(['demo', 'Ready', 'site-a', 'site-b', 'site-c', '0']);
    const wide = (await ok(['get', 'rv', 'demo', '-o', 'wide'])).trim().split('\n').map((line) => line.trim().split(/\s+/));
    expect(wide[0]).toEqual(expect.arrayContaining(['EPOCH', 'SIZE']));
    expect(wide[1]).toEqual(expect.arrayContaining(['1', '256Mi']));
  });

  it('has each agent hold its role in epoch 1', async () => {
    const roles = await Promise.all(sites.map(async (node) => (await heldVolumes(agent(node))).get(`${namespace}/demo`)));
    // bunker.v1.Role: PRIMARY 1, BUNKER 2, SECONDARY 3.
    expect(roles).toEqual([{ role: 1, epoch: 1 }, { role: 2, epoch: 1 }, { role: 3, epoch: 1 }]);
  });

  it('publishes a headless Service and an EndpointSlice pointing at the primary agent\'s NBD port', async () => {
    const rv = await volume('demo');
    const service: unknown = JSON.parse(await ok(['get', 'service', 'demo', '-o', 'json']));
    expect(service).toMatchObject({
      metadata: { ownerReferences: [{ kind: 'ReplicatedVolume', name: 'demo', uid: rv.metadata.uid, controller: true }] },
      spec: { clusterIP: 'None', ports: [{ name: 'nbd', port: 10809, protocol: 'TCP' }] },
    });
    expect(service).not.toHaveProperty('spec.selector');
    const slice: unknown = JSON.parse(await ok(['get', 'endpointslice', 'demo', '-o', 'json']));
    expect(slice).toMatchObject({
      metadata: { labels: { 'kubernetes.io/service-name': 'demo' }, ownerReferences: [{ uid: rv.metadata.uid }] },
      addressType: 'IPv4',
      endpoints: [{ addresses: [link?.host], nodeName: 'site-a', conditions: { ready: true } }],
      ports: [{ name: 'nbd', port: agent('site-a').nbdPort, protocol: 'TCP' }],
    });
    expect(rv.status?.endpoint).toEqual({ service: 'demo', address: `${link?.host}:${agent('site-a').nbdPort}` });
  });

  it('names a missing node with NodeNotFound and an Event, and keeps running', async () => {
    await ok(['apply', '-f', '-'], manifest('stray', ['site-x', 'site-b', 'site-c']));
    const rv = await waitFor('stray to report NodeNotFound', async () => {
      const current = await volume('stray');
      return condition(current, 'Ready') === 'False/NodeNotFound' ? current : undefined;
    }, { timeoutMs: 20_000, intervalMs: 250 });
    expect(rv.status?.phase).toBe('Pending');
    expect(rv.status?.conditions?.find((c) => c.type === 'Ready')?.message).toMatch(/site-x does not exist/);
    await waitFor('a NodeNotFound Event', async () => ((await eventReasons('stray')).includes('NodeNotFound') ? true : undefined), { timeoutMs: 10_000 });
    expect(operator.alive()).toBe(true);
    // The operator still serves the other volume.
    expect((await volume('demo')).status?.phase).toBe('Ready');
  }, 40_000);

  it('names a node whose agent does not report with AgentNotReporting and an Event', async () => {
    await ok(['apply', '-f', '-'], manifest('silent', ['site-a', 'site-b', 'site-d']));
    await waitFor('silent to report AgentNotReporting', async () => (condition(await volume('silent'), 'Ready') === 'False/AgentNotReporting' ? true : undefined), { timeoutMs: 20_000, intervalMs: 250 });
    await waitFor('an AgentNotReporting Event', async () => ((await eventReasons('silent')).includes('AgentNotReporting') ? true : undefined), { timeoutMs: 10_000 });
    expect(operator.alive()).toBe(true);
  }, 40_000);

  it('exports reconciles, errors, queue depth and volumes by phase', async () => {
    const text = await operator.metrics();
    expect(text).toMatch(/^bunker_operator_reconciles_total\{[^}]*result="ready"[^}]*\} [1-9]/m);
    expect(text).toMatch(/^bunker_operator_volumes\{[^}]*phase="Ready"[^}]*\} 1$/m);
    expect(text).toMatch(/^bunker_operator_volumes\{[^}]*phase="Pending"[^}]*\} 2$/m);
    expect(text).toMatch(/^bunker_operator_queue_depth(\{[^}]*\})? \d+$/m);
    expect(text).toMatch(/^bunker_operator_leader(\{[^}]*\})? 1$/m);
  });

  it('runs the finalizer on deletion: the agents release the volume and keep its files (Retain)', async () => {
    await ok(['delete', 'replicatedvolume', 'demo', '--timeout', '30s']);
    expect((await kubectl(['-n', namespace, 'get', 'replicatedvolume', 'demo'])).code).not.toBe(0);
    for (const node of sites) expect((await heldVolumes(agent(node))).has(`${namespace}/demo`)).toBe(false);
    await access(join(agent('site-a').dataDir, 'volumes', `${namespace}__demo`));
  }, 45_000);

  it('deletes the files on every node under reclaimPolicy Delete', async () => {
    await ok(['apply', '-f', '-'], manifest('scratch', ['site-a', 'site-b', 'site-c'], { reclaimPolicy: 'Delete' }));
    await waitReady('scratch');
    await ok(['delete', 'replicatedvolume', 'scratch', '--timeout', '30s']);
    for (const node of sites) {
      expect((await heldVolumes(agent(node))).has(`${namespace}/scratch`)).toBe(false);
      await expect(access(join(agent(node).dataDir, 'volumes', `${namespace}__scratch`))).rejects.toThrow();
    }
  }, 90_000);

  it('releases what it can when a role\'s agent does not report, and lets the object go', async () => {
    await ok(['delete', 'replicatedvolume', 'stray', 'silent', '--timeout', '30s']);
    expect(await eventReasons('silent')).toEqual(expect.arrayContaining(['ReleaseSkipped']));
    for (const node of sites) {
      const held = await heldVolumes(agent(node));
      expect([held.has(`${namespace}/stray`), held.has(`${namespace}/silent`)]).toEqual([false, false]);
    }
  }, 45_000);
});
