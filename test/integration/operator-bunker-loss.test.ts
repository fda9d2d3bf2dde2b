// Losing the bunker under the real operator, with spec.replication.onBunkerLoss: degrade: the
// bunker's agent is killed and its Node marked NotReady in the middle of verifiable writes;
// writes stop being acknowledged (recovery: sync waits for the bunker) until the grace period
// ends, then the operator switches the primary to asynchronous, visibly (RecoveryCopyInSync
// False/DegradedToAsync), and writes flow again; when the bunker returns and has caught up,
// the primary is back in sync. Every acknowledged write is on the primary's data file.
// Nodes are bx-a/bx-b/bx-c, so the other operator tests' nodes are never touched.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReplicatedVolume } from '../../operator/src/api/index.js';
import { startAgent, type AgentProcess } from '../support/agent-process.js';
import { testCluster } from '../support/cluster.js';
import { repoRoot } from '../support/control-plane.js';
import { kubectl } from '../support/kubectl.js';
import { runClient } from '../support/nbd-clients.js';
import {
  buildWorkspace, ensureNamespace, ensureReadyNode, installCrd, kubectlOk, markNodeNotReady, readVolume, startOperator, testLinkAddress, type OperatorProcess,
} from '../support/operator-process.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

const namespace = 'operator-bunker-loss';
const operatorNamespace = 'bunker-loss-system';
const sites = ['bx-a', 'bx-b', 'bx-c'] as const;
const name = 'bunker-loss-demo';

let baseDir: string;
let operator: OperatorProcess | undefined;
const agents = new Map<string, AgentProcess>();
let link: { readonly host: string; destroy(): Promise<void> } | undefined;

const volume = (): Promise<ReplicatedVolume> => readVolume(namespace, name);
const condition = (rv: ReplicatedVolume, type: string): string | undefined => {
  const found = rv.status?.conditions?.find((c) => c.type === type);
  return found === undefined ? undefined : `${found.status}/${found.reason}`;
};

function agent(node: string): AgentProcess {
  const found = agents.get(node);
  if (found === undefined) throw new Error(`no agent on ${node}`);
  return found;
}

async function startSite(node: string): Promise<void> {
  agents.set(node, await startAgent({ node, baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: operatorNamespace, ...(link === undefined ? {} : { host: link.host }) }));
}

async function acks(ackLog: string): Promise<number> {
  return (await readFile(ackLog, 'utf8').catch(() => '')).split('\n').length - 1;
}

beforeAll(async () => {
  await buildWorkspace();
  await installCrd();
  await ensureNamespace(operatorNamespace);
  await ensureNamespace(namespace);
  for (const node of sites) await ensureReadyNode(node);
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-operator-bunker-loss-'));
  link = await testLinkAddress(69);
  for (const node of sites) await startSite(node);
  operator = await startOperator({
    identity: 'bunker-loss', baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: operatorNamespace, volumeNamespaces: [namespace], leaderElect: false,
  });
}, 360_000);

afterAll(async () => {
  if (operator?.alive() === true) await kubectl(['-n', namespace, 'delete', 'replicatedvolumes', '--all', '--timeout', '30s', '--wait=false']);
  await operator?.stop();
  await Promise.all([...agents.values()].map((a) => a.stop()));
  await link?.destroy();
  for (const node of sites) await ensureReadyNode(node).catch(() => undefined);
  if (baseDir !== undefined) await rm(baseDir, { recursive: true, force: true });
}, 90_000);

describe('losing the bunker with onBunkerLoss: degrade', () => {
  it('blocks for the grace period, then serves asynchronously, visibly, and returns to sync with the bunker', async () => {
    await kubectlOk(['-n', namespace, 'apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
      spec: {
        size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 3 }, replication: { onBunkerLoss: 'degrade' },
        placement: { primary: { node: 'bx-a' }, bunker: { node: 'bx-b' }, secondary: { node: 'bx-c' } },
      },
    }));
    await waitFor(`${name} to be Ready`, async () => ((await volume()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });

    const ackLog = join(baseDir, 'writes.acks');
    const writer = runClient('/usr/bin/python3', [
      join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', `nbd://${agent('bx-a').host}:${agent('bx-a').nbdPort}/${namespace}/${name}`,
      '--reconnect', '--blocks', '1024', '--seconds', '40', '--ack-log', ackLog, '--seed', '21',
    ], { timeoutMs: 90_000 });
    await waitFor('writes to be acknowledged', async () => ((await acks(ackLog)) > 200 ? true : undefined), { timeoutMs: 20_000 });

    const lostAt = Date.now();
    await agent('bx-b').kill();
    agents.delete('bx-b');
    await markNodeNotReady('bx-b');
    const degraded = await waitFor('the primary to degrade to asynchronous', async () => {
      const rv = await volume();
      return condition(rv, 'RecoveryCopyInSync') === 'False/DegradedToAsync' ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const degradedMs = Date.now() - lostAt;
    expect(condition(degraded, 'Degraded')).toBe('True/DegradedToAsync');
    const atDegrade = await acks(ackLog);
    await waitFor('writes to flow again without the bunker', async () => ((await acks(ackLog)) > atDegrade + 200 ? true : undefined), { timeoutMs: 20_000 });

    await startSite('bx-b');
    await ensureReadyNode('bx-b');
    const restored = await waitFor('the primary to be back in sync', async () => {
      const rv = await volume();
      return condition(rv, 'RecoveryCopyInSync') === 'True/InSync' ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    await writer;

    const dataPath = join(agent('bx-a').dataDir, 'volumes', `${namespace}__${name}`, 'data.img');
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath, offset, length));
    process.stdout.write(`bunker lost → degraded to asynchronous in ${degradedMs} ms (grace 3 s); ${result.blocksChecked} acknowledged blocks checked, ` +
      `${result.lost.length} lost; back in sync: ${restored.status?.conditions?.find((c) => c.type === 'RecoveryCopyInSync')?.message ?? ''}\n`);
    expect(result.lost).toEqual([]);
    expect(restored.status?.phase).toBe('Ready');
  }, 240_000);
});
