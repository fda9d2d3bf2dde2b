// The takeover under the real operator when the primary is cut off, not killed (issue 8).
// The primary agent runs in a network namespace of its own (10.213.64.2); the bunker and the
// secondary run in the root namespace on the root end of its link (10.213.64.1), which stays
// reachable locally when the link is down; the primary reaches the apiserver through a relay on
// that address, so a cut takes the control plane away from it too, as a real partition would.
// A verifiable writer writes through a Service proxy that follows the volume's EndpointSlice
// (test/support/tcp-relay.ts). In the middle of the writes the primary's link is set down and,
// playing the kubelet, the test marks its Node NotReady. Shown:
// - the operator fences, drains and promotes the secondary, and records status.lastTakeover as
//   the test saw it (reason, nodes, epochs, times, no write lost);
// - the old primary acknowledges nothing after the cut (at most the one write in flight);
// - the writer reconnects through the EndpointSlice to the new primary and every write it saw
//   acknowledged, before and after the cut, is on the new primary's data file;
// - a second client writing through the old primary's own NBD port, from inside its namespace,
//   gets no acknowledgement: while the link is still cut; once the link is back with the
//   operator paused (nothing from the operator reaches the old primary: only the agent itself
//   and the bunker's fence stand between the client and an acknowledgement); and once the
//   operator has seen it back and its Node is Ready (it must not export the volume then). The
//   new primary's data at those offsets is still the last acknowledged content.
// Nodes pt-a/pt-b/pt-c, namespace operator-takeover-partition, subnet 64.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Role } from '@bunker/proto';
import { testCluster } from '../support/cluster.js';
import { kubectlOk, markNodeNotReady, ensureReadyNode } from '../support/operator-process.js';
import { burstWrites } from '../support/burst-writes.js';
import { acknowledged, OperatorTestbed } from '../support/operator-testbed.js';
import { startServiceProxy, type ServiceProxy } from '../support/tcp-relay.js';
import { waitFor } from '../support/wait-for.js';
import { lastAcknowledged, readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

const namespace = 'operator-takeover-partition';
const name = 'partition-demo';
const gracePeriodSeconds = 2;
const BLOCK = 4096;

let testbed: OperatorTestbed;
let proxy: ServiceProxy | undefined;

const ok = (args: readonly string[], input?: string): Promise<string> => kubectlOk(['-n', namespace, ...args], input);
const volume = (): ReturnType<OperatorTestbed['volume']> => testbed.volume(name);

beforeAll(async () => {
  testbed = await OperatorTestbed.start({
    name: 'takeover-partition', namespace, operatorNamespace: 'bunker-takeover-partition-system', sites: ['pt-a', 'pt-b', 'pt-c'], subnet: 64, isolatedSite: 'pt-a',
  });
}, 360_000);

afterAll(async () => {
  await proxy?.close();
  await testbed?.stop();
}, 90_000);

describe('the operator taking over from a primary cut off by the network', () => {
  it('promotes the secondary; the old primary acknowledges nothing after the cut, nor after its return; no acknowledged write is lost', async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
      spec: {
        size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds },
        placement: { primary: { node: 'pt-a' }, bunker: { node: 'pt-b' }, secondary: { node: 'pt-c' } },
      },
    }));
    await waitFor(`${name} to be Ready`, async () => ((await volume()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
    const oldEndpoint = testbed.endpoint('pt-a');
    const newEndpoint = testbed.endpoint('pt-c');
    expect((await volume()).status?.endpoint?.address).toBe(oldEndpoint);

    const ackLog = join(testbed.baseDir, 'partition.acks');
    // The ack count when the writer first connects to the new primary: every ack before it
    // came from the old primary (the writer has one write outstanding at a time).
    let acksBeforeNewPrimary: number | undefined;
    let newPrimaryConnectedAt: number | undefined;
    proxy = await startServiceProxy({
      kubeConfig: testCluster().kubeConfig, namespace, name, pollMs: 200,
      onConnect: (upstream) => {
        if (upstream === newEndpoint && acksBeforeNewPrimary === undefined) {
          newPrimaryConnectedAt = Date.now();
          acksBeforeNewPrimary = ackCountSync(ackLog);
        }
      },
    });
    expect(proxy.current()).toBe(oldEndpoint);
    const writer = testbed.spawnWriter(`nbd://${proxy.host}:${proxy.port}/${namespace}/${name}`, ackLog, { blocks: 1024, seconds: 90, seed: 17 });
    await waitFor('writes to be acknowledged by the old primary', async () => ((await acknowledged(ackLog)) > 300 ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });

    const cutAt = Date.now();
    await testbed.isolatedHost().cut();
    const acksAtCut = await acknowledged(ackLog);
    await markNodeNotReady('pt-a');
    // At once, on the primary's side of the partition: a client there is not acknowledged either
    // (the old primary cannot reach its bunker), whether or not it still exports the volume.
    const offsetsAtCut = [...(await lastAcknowledged(ackLog)).keys()].slice(-8);
    const atCut = zWritesNotAcknowledged('just after the cut, from inside its namespace', oldEndpoint, offsetsAtCut);
    atCut.catch(() => undefined); // awaited below; this only keeps a failure before then from going unhandled

    const done = await waitFor('the takeover to be recorded', async () => {
      const rv = await volume();
      return rv.status?.lastTakeover !== undefined && rv.status.endpoint?.address === newEndpoint ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const recordedAt = Date.now();
    const recordedMs = recordedAt - cutAt;
    await atCut;

    // The writer finds the new primary through the EndpointSlice and writes on.
    await waitFor('the writer to reach the new primary', async () => (acksBeforeNewPrimary !== undefined ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });
    const before = acksBeforeNewPrimary ?? 0;
    await waitFor('writes acknowledged by the new primary', async () => ((await acknowledged(ackLog)) > before + 300 ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
    writer.child.kill('SIGTERM');
    await writer.exited;
    const totalAcks = await acknowledged(ackLog);

    // The old primary stopped acknowledging at the cut: at most the one write in flight.
    const toOld = proxy.connections.filter((c) => c.upstream === oldEndpoint);
    const toNew = proxy.connections.filter((c) => c.upstream === newEndpoint);
    const lastOldData = Math.max(...toOld.map((c) => c.lastUpstreamDataAt ?? 0));
    process.stdout.write(`cut at +0 ms: ${acksAtCut} acks at the cut, ${before} when the writer first reached the new primary ` +
      `(+${(newPrimaryConnectedAt ?? 0) - cutAt} ms), ${totalAcks} in all; last bytes from the old primary at ${lastOldData - cutAt} ms; ` +
      `connections to the old primary ${JSON.stringify(toOld.map((c) => ({ bytes: c.bytesFromUpstream, closedBecause: c.closedBecause })))}; ` +
      `to the new primary ${toNew.length}\n`);
    expect(before - acksAtCut).toBeLessThanOrEqual(1);
    expect(toOld.every((c) => c.closedAt !== undefined)).toBe(true);
    expect(toNew.length).toBeGreaterThan(0);
    expect(toNew.reduce((sum, c) => sum + c.bytesFromUpstream, 0)).toBeGreaterThan(0);
    expect(totalAcks).toBeGreaterThan(before + 300);

    // The operator's record matches what the test saw.
    const last = done.status?.lastTakeover;
    expect(done.status).toMatchObject({ currentPrimary: 'pt-c', epoch: 2 });
    expect(last).toMatchObject({ reason: 'NodeNotReady', fromNode: 'pt-a', toNode: 'pt-c', fromEpoch: 1, toEpoch: 2, acknowledgedWritesLost: 0 });
    const startedAt = Date.parse(last?.startedAt ?? '');
    const finishedAt = Date.parse(last?.finishedAt ?? '');
    // Status times may be whole seconds: allow one second either way.
    expect(startedAt).toBeGreaterThanOrEqual(cutAt + gracePeriodSeconds * 1000 - 1000);
    expect(finishedAt).toBeGreaterThanOrEqual(startedAt);
    expect(finishedAt).toBeLessThanOrEqual(recordedAt + 1000);
    expect(Math.abs((last?.durationSeconds ?? -10) - (finishedAt - startedAt) / 1000)).toBeLessThanOrEqual(1);
    const slice: unknown = JSON.parse(await ok(['get', 'endpointslice', name, '-o', 'json']));
    expect(slice).toMatchObject({ endpoints: [{ nodeName: 'pt-c', addresses: [testbed.agent('pt-c').host] }], ports: [{ port: testbed.agent('pt-c').nbdPort }] });

    // Every acknowledged write, to the old primary before the cut and to the new one after, is on the new primary.
    const dataPath = testbed.dataPath('pt-c', name);
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath, offset, length));
    process.stdout.write(`operator takeover (network cut): ${result.blocksChecked} acknowledged blocks, ${result.lost.length} lost; ` +
      `lastTakeover ${JSON.stringify(last)}; cut to takeover recorded (EndpointSlice on the new primary) ${recordedMs} ms; ` +
      `cut to the writer reconnected to the new primary ${(newPrimaryConnectedAt ?? 0) - cutAt} ms\n`);
    expect(result.blocksChecked).toBeGreaterThan(100);
    expect(result.lost).toEqual([]);

    // A second client writes 'Z' blocks through the old primary's own NBD port, from inside its
    // namespace, at offsets the writer wrote. Then the link comes back while the operator is
    // paused (SIGSTOP), so that nothing from the operator reaches the old primary first.
    const acked = await lastAcknowledged(ackLog);
    const offsets = [...acked.keys()].slice(0, 8);
    const secondClient = (when: string): Promise<void> => zWritesNotAcknowledged(when, oldEndpoint, offsets);
    // First while it is still cut off (it may still export the volume, but cannot reach its bunker).
    const during = await Promise.race([
      testbed.agent('pt-a').status().catch((error: unknown) => (error instanceof Error ? error.message : String(error))),
      new Promise<string>((resolve) => setTimeout(() => resolve('no answer within 2 s'), 2_000)),
    ]);
    process.stdout.write(`old primary pt-a during the cut, as the test sees it: ${typeof during === 'string' ? during : 'answers'}\n`);
    await secondClient('during the cut, from inside its namespace');

    testbed.operator().process.child.kill('SIGSTOP');
    try {
      await testbed.isolatedHost().restore();
      const returning = await waitFor('the old primary to answer again', () => testbed.replica('pt-a', name), { timeoutMs: 30_000, intervalMs: 250 });
      process.stdout.write(`old primary pt-a back, operator paused: ${JSON.stringify({ role: returning.role, epoch: returning.epoch, nbdAddress: returning.nbdAddress, health: returning.health, healthMessage: returning.healthMessage })}\n`);
      await secondClient('with the operator paused');
    } finally {
      testbed.operator().process.child.kill('SIGCONT');
    }

    // The operator runs again and its kubelet reports the Node Ready: the old primary must not serve again.
    await ensureReadyNode('pt-a');
    const fenced = await waitFor('the old primary to stop exporting the volume', async () => {
      const held = await testbed.replica('pt-a', name);
      return held !== undefined && held.nbdAddress === '' ? held : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    process.stdout.write(`old primary pt-a after the operator saw it back: ${JSON.stringify({ role: fenced.role, epoch: fenced.epoch, nbdAddress: fenced.nbdAddress, health: fenced.health })}\n`);
    expect(fenced.role).not.toBe(Role.ROLE_PRIMARY);
    await secondClient('once the operator saw it back');

    // Give anything the old primary might still send a moment, then look at the new primary's data.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const after = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath, offset, length));
    expect(after.lost).toEqual([]);
    for (const offset of [...offsets, ...offsetsAtCut]) {
      const block = await readFileRange(dataPath, offset, BLOCK);
      expect(block.equals(Buffer.alloc(BLOCK, 'Z'))).toBe(false);
      // The last acknowledged write there, or a later one the writer issued (never acknowledged) before it stopped.
      expect(Number(block.readBigUInt64LE(16))).toBeGreaterThanOrEqual(acked.get(offset) ?? Infinity);
    }
    const final = await volume();
    expect(final.status).toMatchObject({ currentPrimary: 'pt-c', epoch: 2 });
    expect(final.status?.lastTakeover).toEqual(last);
    const served = await testbed.replica('pt-c', name);
    expect(served).toMatchObject({ epoch: 2 });
    expect(served?.nbdAddress ?? '').not.toBe('');
  }, 240_000);
});

/** Writes 'Z' blocks through the old primary's NBD port from inside its namespace; none may be acknowledged. */
async function zWritesNotAcknowledged(when: string, endpoint: string, offsets: readonly number[]): Promise<void> {
  const burst = await burstWrites(testbed.isolatedHost().netns, `nbd://${endpoint}/${namespace}/${name}`, 'Z', offsets);
  process.stdout.write(`second client through the old primary ${when} ${burst.summary}\n`);
  expect(burst.answers.length).toBeGreaterThan(0);
  expect(burst.answers.filter((a) => a.result === 'acknowledged')).toEqual([]);
}

/** Called from the proxy's connection handler, before any byte reaches the new primary. */
function ackCountSync(ackLog: string): number {
  let text: string;
  try {
    text = readFileSync(ackLog, 'utf8');
  } catch {
    text = '';
  }
  return text.split('\n').filter((l) => l.trim() !== '').length;
}
