// The takeover under the real operator: the operator process and three real agents against
// the run's apiserver, a writer of verifiable blocks through the primary's NBD endpoint.
// The primary agent is killed with SIGKILL in the middle of writes and the test, playing the
// kubelet, marks its Node NotReady; the operator must fence, drain and promote the secondary
// by itself, point the volume's EndpointSlice at it and record status.lastTakeover, and every
// write the writer saw acknowledged must be on the new primary's data file.
// Nodes are tk-a/tk-b/tk-c, so that the other operator tests' nodes are never touched.
import { join } from 'node:path';
import type { ReplicatedVolume } from '../../operator/src/api/index.js';
import { ensureReadyNode, kubectlOk, markNodeNotReady, readVolume } from '../support/operator-process.js';
import { acknowledged, OperatorTestbed } from '../support/operator-testbed.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

const namespace = 'operator-takeover';
const name = 'takeover-demo';

let testbed: OperatorTestbed;

const ok = (args: readonly string[], input?: string): Promise<string> => kubectlOk(['-n', namespace, ...args], input);
const volume = (): Promise<ReplicatedVolume> => testbed.volume(name);

beforeAll(async () => {
  testbed = await OperatorTestbed.start({ name: 'takeover', namespace, operatorNamespace: 'bunker-takeover-system', sites: ['tk-a', 'tk-b', 'tk-c'], subnet: 62 });
}, 360_000);

afterAll(async () => {
  await testbed?.stop();
}, 90_000);

describe('the operator taking over from a killed primary', () => {
  it('fences, drains and promotes the secondary, and loses no acknowledged write', async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
      spec: {
        size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 2 },
        placement: { primary: { node: 'tk-a' }, bunker: { node: 'tk-b' }, secondary: { node: 'tk-c' } },
      },
    }));
    await waitFor(`${name} to be Ready`, async () => ((await volume()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });

    const ackLog = join(testbed.baseDir, 'kill.acks');
    const writer = testbed.writer('tk-a', name, ackLog, { blocks: 1024, seconds: 15, seed: 7 });
    await waitFor('writes to be acknowledged', async () => ((await acknowledged(ackLog)) >= 300 ? true : undefined), { timeoutMs: 20_000 });

    const killedAt = Date.now();
    await testbed.killAgent('tk-a');
    await markNodeNotReady('tk-a');

    const done = await waitFor('the takeover to be recorded', async () => {
      const rv = await volume();
      return rv.status?.lastTakeover !== undefined && rv.status.endpoint?.address === testbed.endpoint('tk-c') ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const servingMs = Date.now() - killedAt;
    await writer;

    const last = done.status?.lastTakeover;
    expect(done.status).toMatchObject({ currentPrimary: 'tk-c', epoch: 2 });
    expect(last).toMatchObject({ reason: 'NodeNotReady', fromNode: 'tk-a', toNode: 'tk-c', fromEpoch: 1, toEpoch: 2, acknowledgedWritesLost: 0 });
    const slice: unknown = JSON.parse(await ok(['get', 'endpointslice', name, '-o', 'json']));
    expect(slice).toMatchObject({ endpoints: [{ nodeName: 'tk-c' }], ports: [{ port: testbed.agent('tk-c').nbdPort }] });

    const dataPath = testbed.dataPath('tk-c', name);
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath, offset, length));
    process.stdout.write(`operator takeover (kill -9): ${result.blocksChecked} acknowledged blocks, ${result.lost.length} lost; ` +
      `lastTakeover ${JSON.stringify(last)}; kill to serving through the EndpointSlice ${servingMs} ms\n`);
    expect(result.blocksChecked).toBeGreaterThan(100);
    expect(result.lost).toEqual([]);
  }, 180_000);

  it('in manual mode waits for spec.takeover.requestId, then takes over for it', async () => {
    // tk-a comes back: the operator leaves its old replica of the first volume alone (fenced, no role).
    await testbed.startAgent('tk-a');
    await ensureReadyNode('tk-a');
    const manual = 'manual-demo';
    await ok(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name: manual },
      spec: {
        size: '16Mi', log: { size: '16Mi' }, failover: { mode: 'manual', gracePeriodSeconds: 1 },
        placement: { primary: { node: 'tk-a' }, bunker: { node: 'tk-b' }, secondary: { node: 'tk-c' } },
      },
    }));
    const get = (): Promise<ReplicatedVolume> => readVolume(namespace, manual);
    await waitFor(`${manual} to be Ready`, async () => ((await get()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });

    await markNodeNotReady('tk-a');
    await waitFor('PrimaryFailed to be True', async () => ((await get()).status?.conditions?.find((c) => c.type === 'PrimaryFailed')?.status === 'True' ? true : undefined), { timeoutMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const waiting = await get();
    expect(waiting.status?.takeover).toBeUndefined();
    expect(waiting.status?.lastTakeover).toBeUndefined();
    expect(waiting.status).toMatchObject({ epoch: 1, currentPrimary: 'tk-a' });

    const requestedAt = Date.now();
    await ok(['patch', 'replicatedvolume', manual, '--type', 'merge', '-p', JSON.stringify({ spec: { takeover: { requestId: 'manual-1' } } })]);
    const done = await waitFor('the manual takeover to be recorded', async () => {
      const rv = await get();
      return rv.status?.lastTakeover?.requestId === 'manual-1' ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    process.stdout.write(`manual takeover: request to recorded ${Date.now() - requestedAt} ms; lastTakeover ${JSON.stringify(done.status?.lastTakeover)}\n`);
    expect(done.status).toMatchObject({ currentPrimary: 'tk-c', epoch: 2 });
    expect(done.status?.lastTakeover).toMatchObject({ reason: 'TakeoverRequested', toNode: 'tk-c', acknowledgedWritesLost: 0 });
    const held = await testbed.replica('tk-a', name);
    // Back, the old primary of the first volume is fenced (role none, bunker.v1.Role 4) in the
    // new epoch and resynchronized into its secondary (3): never again its primary (1).
    process.stdout.write(`old primary tk-a of ${name} after its return: ${JSON.stringify(held === undefined ? null : { role: held.role, epoch: held.epoch, nbdAddress: held.nbdAddress })}\n`);
    // (or, if its node went NotReady before the operator reached it, a reopened primary that
    // waits for a confirmation it will never get).
    expect(held?.role !== 1 || held.awaitingConfirmation).toBe(true);
    // Nor does it serve: it no longer exports the volume.
    expect(held?.nbdAddress ?? '').toBe('');
  }, 180_000);
});
