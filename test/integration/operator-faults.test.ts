// Faults of real disks under the real operator, injected into the agents' real files through
// their test-only --fault-file (agent/src/faults): the primary's data volume starts returning
// EIO on writes in the middle of verifiable writes, the agent reports it (status, metric) and
// the operator takes over at once (reason VolumeFailed) with no acknowledged write lost; then
// the bunker's log fdatasync becomes slow, and writes go on, slower, with none lost.
// Nodes are fi-a/fi-b/fi-c, so the other operator tests' nodes are never touched.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type AgentProcess } from '../support/agent-process.js';
import { testCluster } from '../support/cluster.js';
import { repoRoot } from '../support/control-plane.js';
import { kubectl } from '../support/kubectl.js';
import { runClient } from '../support/nbd-clients.js';
import {
  buildWorkspace, ensureNamespace, ensureReadyNode, installCrd, kubectlOk, readVolume, startOperator, testLinkAddress, type OperatorProcess,
} from '../support/operator-process.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

const namespace = 'operator-faults';
const operatorNamespace = 'bunker-faults-system';
const sites = ['fi-a', 'fi-b', 'fi-c'] as const;

let baseDir: string;
let operator: OperatorProcess | undefined;
const agents = new Map<string, AgentProcess>();
let link: { readonly host: string; destroy(): Promise<void> } | undefined;

function agent(node: string): AgentProcess {
  const found = agents.get(node);
  if (found === undefined) throw new Error(`no agent on ${node}`);
  return found;
}

const faultFile = (node: string): string => join(baseDir, `${node}.faults.json`);
const inject = (node: string, plan: object): Promise<void> => writeFile(faultFile(node), JSON.stringify(plan));
const acks = async (path: string): Promise<number> => (await readFile(path, 'utf8').catch(() => '')).split('\n').length - 1;

async function createVolume(name: string, placement: { primary: string; bunker: string; secondary: string }): Promise<void> {
  await kubectlOk(['-n', namespace, 'apply', '-f', '-'], JSON.stringify({
    apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
    spec: {
      size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 2 },
      placement: { primary: { node: placement.primary }, bunker: { node: placement.bunker }, secondary: { node: placement.secondary } },
    },
  }));
  await waitFor(`${name} to be Ready`, async () => ((await readVolume(namespace, name)).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
}

function writer(name: string, node: string, ackLog: string, seconds: number, seed: number): Promise<unknown> {
  return runClient('/usr/bin/python3', [
    join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', `nbd://${agent(node).host}:${agent(node).nbdPort}/${namespace}/${name}`,
    '--blocks', '1024', '--seconds', String(seconds), '--ack-log', ackLog, '--seed', String(seed),
  ], { timeoutMs: (seconds + 30) * 1000 });
}

beforeAll(async () => {
  await buildWorkspace();
  await installCrd();
  await ensureNamespace(operatorNamespace);
  await ensureNamespace(namespace);
  for (const node of sites) await ensureReadyNode(node);
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-operator-faults-'));
  link = await testLinkAddress(74);
  for (const node of sites) {
    await inject(node, {});
    agents.set(node, await startAgent({
      node, baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: operatorNamespace, host: link.host, extraArgs: ['--fault-file', faultFile(node)],
    }));
  }
  operator = await startOperator({
    identity: 'faults', baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: operatorNamespace, volumeNamespaces: [namespace], leaderElect: false,
  });
}, 360_000);

afterAll(async () => {
  if (operator?.alive() === true) await kubectl(['-n', namespace, 'delete', 'replicatedvolumes', '--all', '--timeout', '30s', '--wait=false']);
  await operator?.stop();
  await Promise.all([...agents.values()].map((a) => a.stop()));
  await link?.destroy();
  if (baseDir !== undefined) await rm(baseDir, { recursive: true, force: true });
}, 90_000);

describe('faults of real disks', () => {
  it('takes over at once from a primary whose data volume returns EIO, and loses no acknowledged write', async () => {
    const name = 'eio';
    await createVolume(name, { primary: 'fi-a', bunker: 'fi-b', secondary: 'fi-c' });
    const ackLog = join(baseDir, 'eio.acks');
    const writing = writer(name, 'fi-a', ackLog, 20, 41);
    await waitFor('writes to be acknowledged', async () => ((await acks(ackLog)) > 200 ? true : undefined), { timeoutMs: 20_000 });
    const failedAt = Date.now();
    await inject('fi-a', { data: { errno: 'EIO', ops: ['write'] } });
    const done = await waitFor('the takeover from the failed volume', async () => {
      const rv = await readVolume(namespace, name);
      return rv.status?.lastTakeover !== undefined ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const tookMs = Date.now() - failedAt;
    await writing;
    expect(done.status?.lastTakeover).toMatchObject({ reason: 'VolumeFailed', fromNode: 'fi-a', toNode: 'fi-c', acknowledgedWritesLost: 0 });
    expect(await agent('fi-a').metrics()).toMatch(/bunker_data_volume_failed\{[^}]*volume="operator-faults\/eio"[^}]*\} 1/);
    const data = join(agent('fi-c').dataDir, 'volumes', `${namespace}__${name}`, 'data.img');
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(data, offset, length));
    process.stdout.write(`EIO on the primary's data volume → takeover recorded in ${tookMs} ms (no grace period); ${result.blocksChecked} acknowledged blocks checked, ${result.lost.length} lost\n`);
    expect(result.lost).toEqual([]);
    await inject('fi-a', {});
  }, 180_000);

  it('goes on, slower, when the bunker\'s log fdatasync is slow, and loses nothing', async () => {
    const name = 'slow-sync';
    await createVolume(name, { primary: 'fi-c', bunker: 'fi-b', secondary: 'fi-a' });
    const ackLog = join(baseDir, 'slow.acks');
    const writing = writer(name, 'fi-c', ackLog, 12, 42);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const fast = await acks(ackLog);
    await inject('fi-b', { log: { delayMs: 100, delayOps: ['sync'] } });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const slowStart = await acks(ackLog);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const slow = (await acks(ackLog)) - slowStart;
    await inject('fi-b', {});
    expect(await writing).toMatchObject({ code: 0 });
    const data = join(agent('fi-c').dataDir, 'volumes', `${namespace}__${name}`, 'data.img');
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(data, offset, length));
    process.stdout.write(`slow bunker fdatasync (100 ms): ${fast} writes in 4 s before, ${slow} in 4 s during; ${result.blocksChecked} acknowledged blocks checked, ${result.lost.length} lost\n`);
    expect(slow).toBeGreaterThan(0);
    expect(slow).toBeLessThan(fast);
    expect(result.lost).toEqual([]);
    expect((await readVolume(namespace, name)).status?.currentPrimary).toBe('fi-c');
  }, 120_000);
});
