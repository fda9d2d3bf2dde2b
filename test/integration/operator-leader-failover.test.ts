// Operator HA against the real apiserver: two operator processes elect a leader by Lease;
// kill -9 of the leader leaves the Lease to expire and the other replica takes over within
// the lease duration, and keeps status moving (an edit is observed, a new volume reaches
// Ready). A replica restarted afterwards resumes from status alone, and SIGTERM hands the
// Lease over at once. Method: as in operator-volume-lifecycle.test.ts, real processes (three
// agents, two operators) and assertions on the state of the world; every wait is bounded.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReplicatedVolume } from '../../operator/src/api/index.js';
import { startAgent, type AgentProcess } from '../support/agent-process.js';
import { testCluster } from '../support/cluster.js';
import { kubectl } from '../support/kubectl.js';
import {
  buildWorkspace, ensureNamespace, ensureReadyNode, installCrd, kubectlOk, readVolume, testLinkAddress, startOperator, type OperatorProcess,
} from '../support/operator-process.js';
import { waitFor } from '../support/wait-for.js';

const namespace = 'operator-ha';
const operatorNamespace = 'bunker-ha';
const sites = ['site-a', 'site-b', 'site-c'] as const;
const LEASE_DURATION_SECONDS = 4;
const RENEW_INTERVAL_SECONDS = 1;

let baseDir: string;
const agents: AgentProcess[] = [];
const operators = new Map<string, OperatorProcess>();

function ok(args: readonly string[], input?: string): Promise<string> {
  return kubectlOk(['-n', namespace, ...args], input);
}

function volume(name: string): Promise<ReplicatedVolume> {
  return readVolume(namespace, name);
}

async function leaseHolder(): Promise<string> {
  const result = await kubectl(['-n', operatorNamespace, 'get', 'lease', 'bunker-operator', '-o', 'jsonpath={.spec.holderIdentity}']);
  return result.code === 0 ? result.stdout.trim() : '';
}

function createVolume(name: string): Promise<string> {
  return ok(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
    spec: { size: '64Mi', placement: { primary: { node: 'site-a' }, bunker: { node: 'site-b' }, secondary: { node: 'site-c' } }, log: { size: '16Mi' } },
  }));
}

async function waitReady(name: string, timeoutMs: number): Promise<ReplicatedVolume> {
  return waitFor(`${name} to be Ready`, async () => {
    const rv = await volume(name);
    return rv.status?.phase === 'Ready' ? rv : undefined;
  }, { timeoutMs, intervalMs: 200 });
}

async function launch(identity: string): Promise<OperatorProcess> {
  const operator = await startOperator({
    identity, baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: operatorNamespace, volumeNamespaces: [namespace],
    leaderElect: true, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewIntervalSeconds: RENEW_INTERVAL_SECONDS,
  });
  operators.set(identity, operator);
  return operator;
}

function operator(identity: string): OperatorProcess {
  const found = operators.get(identity);
  if (found === undefined) throw new Error(`no operator ${identity}`);
  return found;
}

async function leaderGauge(op: OperatorProcess): Promise<string | undefined> {
  return /^bunker_operator_leader(?:\{[^}]*\})? (\d+)$/m.exec(await op.metrics())?.[1];
}

let link: { readonly host: string; destroy(): Promise<void> } | undefined;

beforeAll(async () => {
  await buildWorkspace();
  await installCrd();
  await ensureNamespace(operatorNamespace);
  await ensureNamespace(namespace);
  for (const node of sites) await ensureReadyNode(node);
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-operator-ha-'));
  link = await testLinkAddress(61);
  const host = link.host;
  for (const node of sites) agents.push(await startAgent({ node, baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: operatorNamespace, host }));
  // op-a first and alone until it leads, so that the test knows which one to kill.
  await launch('op-a');
  await waitFor('op-a to lead', async () => ((await leaseHolder()) === 'op-a' ? true : undefined), { timeoutMs: 15_000 });
  await launch('op-b');
}, 360_000);

afterAll(async () => {
  const live = [...operators.values()].filter((op) => op.alive());
  if (live.length > 0) await kubectl(['-n', namespace, 'delete', 'replicatedvolumes', '--all', '--timeout', '30s']);
  await Promise.all(live.map((op) => op.stop()));
  await Promise.all(agents.map((a) => a.stop()));
  await link?.destroy();
  if (baseDir !== undefined) await rm(baseDir, { recursive: true, force: true });
}, 90_000);

describe('two operator replicas', () => {
  it('only the leader reconciles: the volume becomes Ready, the follower stays idle', async () => {
    await createVolume('first');
    await waitReady('first', 60_000);
    expect(await leaderGauge(operator('op-a'))).toBe('1');
    expect(await leaderGauge(operator('op-b'))).toBe('0');
    expect(await operator('op-b').metrics()).not.toMatch(/^bunker_operator_reconciles_total\{/m);
  }, 90_000);

  it('kill -9 of the leader: the follower takes over within the lease duration and status keeps being updated', async () => {
    const killedAt = Date.now();
    await operator('op-a').kill();
    await waitFor('op-b to take the Lease', async () => ((await leaseHolder()) === 'op-b' ? true : undefined), { timeoutMs: (LEASE_DURATION_SECONDS + 6) * 1000, intervalMs: 100 });
    const takeoverMs = Date.now() - killedAt;
    // The follower waits out the lease from its own last sighting of a renewal: at most one
    // renew interval (plus a round trip) more than the duration.
    expect(takeoverMs).toBeLessThan((LEASE_DURATION_SECONDS + RENEW_INTERVAL_SECONDS) * 1000 + 1_500);

    // An edit of the existing volume is reflected in its status by the new leader...
    await ok(['patch', 'replicatedvolume', 'first', '--type', 'merge', '-p', JSON.stringify({ spec: { failover: { gracePeriodSeconds: 20 } } })]);
    const generation = (await volume('first')).metadata.generation;
    await waitFor('status to observe the new generation', async () => ((await volume('first')).status?.observedGeneration === generation ? true : undefined), { timeoutMs: 15_000, intervalMs: 200 });
    // ...and a new volume is taken from nothing to Ready.
    await createVolume('second');
    const second = await waitReady('second', 30_000);
    expect(second.status?.epoch).toBe(1);
    expect(await leaderGauge(operator('op-b'))).toBe('1');
    process.stderr.write(`operator takeover after kill -9: ${takeoverMs} ms (lease ${LEASE_DURATION_SECONDS} s); second volume Ready ${Date.now() - killedAt} ms after the kill\n`);
  }, 60_000);

  it('a restarted replica follows, and on SIGTERM of the leader takes over at once and resumes from status alone', async () => {
    await launch('op-a');
    await new Promise((resolve) => setTimeout(resolve, 2 * RENEW_INTERVAL_SECONDS * 1000));
    expect(await leaseHolder()).toBe('op-b');
    const stoppedAt = Date.now();
    await operator('op-b').stop();
    await waitFor('op-a to take the Lease', async () => ((await leaseHolder()) === 'op-a' ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
    expect(Date.now() - stoppedAt).toBeLessThan(LEASE_DURATION_SECONDS * 1000);
    await createVolume('third');
    await waitReady('third', 30_000);
    // The volumes made under other leaders are still in the epoch their status recorded.
    for (const name of ['first', 'second']) expect((await volume(name)).status).toMatchObject({ phase: 'Ready', epoch: 1 });
  }, 60_000);
});
