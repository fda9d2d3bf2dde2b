// Re-protection under the real operator. The secondary's agent is killed and its Node goes
// NotReady; after three grace periods the operator places the secondary on the spare named in
// spec.placement.spares, copies the volume to it in full (status.resync, condition Resyncing),
// and the volume is Ready again with the spare following; its data file ends identical to the
// primary's. Then the bunker of a second volume is lost under writes: writes wait (recovery:
// sync, onBunkerLoss: block) until a spare becomes the new bunker and has caught up, and none
// acknowledged is lost. Nodes are sp-a..sp-e, so the other operator tests' nodes are never touched.
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

const namespace = 'operator-spare';
const operatorNamespace = 'bunker-spare-system';
const sites = ['sp-a', 'sp-b', 'sp-c', 'sp-d', 'sp-e'] as const;
const name = 'spare-demo';

let baseDir: string;
let operator: OperatorProcess | undefined;
const agents = new Map<string, AgentProcess>();
let link: { readonly host: string; destroy(): Promise<void> } | undefined;

const volume = (): Promise<ReplicatedVolume> => readVolume(namespace, name);

function agent(node: string): AgentProcess {
  const found = agents.get(node);
  if (found === undefined) throw new Error(`no agent on ${node}`);
  return found;
}

const dataFile = (node: string): Promise<Buffer> => readFile(join(agent(node).dataDir, 'volumes', `${namespace}__${name}`, 'data.img'));

beforeAll(async () => {
  await buildWorkspace();
  await installCrd();
  await ensureNamespace(operatorNamespace);
  await ensureNamespace(namespace);
  for (const node of sites) await ensureReadyNode(node);
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-operator-spare-'));
  link = await testLinkAddress(73);
  for (const node of sites) {
    agents.set(node, await startAgent({ node, baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: operatorNamespace, host: link.host }));
  }
  operator = await startOperator({
    identity: 'spare', baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: operatorNamespace, volumeNamespaces: [namespace], leaderElect: false,
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

describe('re-protection on a spare', () => {
  it('replaces a lost secondary with the spare, copies the volume to it in full, and is Ready again', async () => {
    await kubectlOk(['-n', namespace, 'apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
      spec: {
        size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 2 },
        placement: { primary: { node: 'sp-a' }, bunker: { node: 'sp-b' }, secondary: { node: 'sp-c' }, spares: ['sp-d'] },
      },
    }));
    await waitFor(`${name} to be Ready`, async () => ((await volume()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
    const written = await runClient('/usr/bin/python3', [
      join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', `nbd://${agent('sp-a').host}:${agent('sp-a').nbdPort}/${namespace}/${name}`,
      '--blocks', '2048', '--writes', '600', '--seconds', '30', '--ack-log', join(baseDir, 'writes.acks'), '--seed', '31',
    ], { timeoutMs: 60_000 });
    expect(written).toMatchObject({ code: 0 });

    const lostAt = Date.now();
    await agent('sp-c').kill();
    agents.delete('sp-c');
    await markNodeNotReady('sp-c');
    const replaced = await waitFor('the spare to become the secondary', async () => {
      const rv = await volume();
      return rv.status?.roles?.secondary?.node === 'sp-d' ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const replacedMs = Date.now() - lostAt;
    expect(replaced.status?.resync).toMatchObject({ scope: 'Full', targetNode: 'sp-d', sourceNode: 'sp-a' });

    const ready = await waitFor(`${name} to be Ready with the spare`, async () => {
      const rv = await volume();
      return rv.status?.phase === 'Ready' && rv.status.resync?.state === 'Finished' ? rv : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250 });
    expect(ready.status?.resync).toMatchObject({ state: 'Finished', scope: 'Full', targetNode: 'sp-d' });
    expect(ready.status?.conditions?.find((c) => c.type === 'Resyncing')).toMatchObject({ status: 'False', reason: 'ResyncFinished' });
    await waitFor('the spare to hold the same data', async () => ((await dataFile('sp-d')).equals(await dataFile('sp-a')) ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 });
    process.stdout.write(`secondary lost → spare placed in ${replacedMs} ms; full copy: ${ready.status?.resync?.bytesCopied} bytes copied of ${ready.status?.resync?.bytesTotal}\n`);
  }, 300_000);

  it('replaces a lost bunker with a spare: writes wait, then flow again once it caught up, and none is lost', async () => {
    const second = 'spare-bunker';
    await kubectlOk(['-n', namespace, 'apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name: second },
      spec: {
        size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 2 },
        placement: { primary: { node: 'sp-a' }, bunker: { node: 'sp-d' }, secondary: { node: 'sp-b' }, spares: ['sp-e'] },
      },
    }));
    const get = (): Promise<ReplicatedVolume> => readVolume(namespace, second);
    await waitFor(`${second} to be Ready`, async () => ((await get()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
    const ackLog = join(baseDir, 'bunker.acks');
    const count = async (): Promise<number> => (await readFile(ackLog, 'utf8').catch(() => '')).split('\n').length - 1;
    const writer = runClient('/usr/bin/python3', [
      join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', `nbd://${agent('sp-a').host}:${agent('sp-a').nbdPort}/${namespace}/${second}`,
      '--reconnect', '--blocks', '1024', '--seconds', '45', '--ack-log', ackLog, '--seed', '32',
    ], { timeoutMs: 90_000 });
    await waitFor('writes to be acknowledged', async () => ((await count()) > 200 ? true : undefined), { timeoutMs: 20_000 });

    const lostAt = Date.now();
    await agent('sp-d').kill();
    agents.delete('sp-d');
    await markNodeNotReady('sp-d');
    const replaced = await waitFor('the spare to become the bunker', async () => {
      const rv = await get();
      return rv.status?.roles?.bunker?.node === 'sp-e' ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const atReplace = await count();
    expect(replaced.status?.roles?.bunker?.node).toBe('sp-e');
    await waitFor('writes to flow with the new bunker', async () => ((await count()) > atReplace + 200 ? true : undefined), { timeoutMs: 30_000 });
    const ready = await waitFor(`${second} to be Ready with the new bunker`, async () => {
      const rv = await get();
      return rv.status?.phase === 'Ready' ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    const flowingMs = Date.now() - lostAt;
    await writer;
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(join(agent('sp-a').dataDir, 'volumes', `${namespace}__${second}`, 'data.img'), offset, length));
    process.stdout.write(`bunker lost → spare sp-e is the bunker and the volume Ready in ${flowingMs} ms; ${result.blocksChecked} acknowledged blocks checked, ${result.lost.length} lost\n`);
    expect(ready.status?.conditions?.find((c) => c.type === 'RecoveryCopyInSync')).toMatchObject({ status: 'True', reason: 'InSync' });
    expect(result.lost).toEqual([]);
  }, 300_000);
});
