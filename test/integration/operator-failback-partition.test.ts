// Failback after a partition under the real operator (issue 9): the old primary is not
// restarted; it comes back by its network coming back, still believing it is the primary of
// epoch 1, with writes of its own that the new history never saw.
// The primary agent runs in a network namespace of its own (10.213.67.2); the bunker and the
// secondary run in the root namespace on the root end of its link (10.213.67.1); the primary
// reaches the apiserver through a relay on that address, so a cut takes the control plane away
// from it too. A verifiable writer writes through a Service proxy that follows the volume's
// EndpointSlice (test/support/tcp-relay.ts). Then:
// - the link is cut and, playing the kubelet, the test marks the Node NotReady;
// - while cut, a second client inside the old primary's namespace writes a distinctive block
//   (a marker repeated) through the old primary's own NBD port: at offsets the writer wrote and
//   at offsets nobody else ever writes. They may reach the old primary's own log and data file,
//   never the bunker: none may be acknowledged. The test checks that the marker did reach the
//   old primary's storage (otherwise the rest would show nothing);
// - the operator takes over; the writer reconnects to the new primary and writes on;
// - the link comes back and the Node is Ready again: the operator fences the old primary and
//   resynchronizes it from the new one (status.resync Finished, scope Changed);
// - once writes stop and the secondary has applied everything, the two data files are
//   byte-identical, the marker is nowhere on the old primary's data file (the new history won),
//   and every acknowledged write is on both.
// Nodes fp-a/fp-b/fp-c, namespace operator-failback-partition, subnet 67.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Role } from '@bunker/proto';
import { testCluster } from '../support/cluster.js';
import { burstWrites } from '../support/burst-writes.js';
import { differingBytes } from '../support/data-diff.js';
import { ensureReadyNode, kubectlOk, markNodeNotReady } from '../support/operator-process.js';
import { acknowledged, OperatorTestbed } from '../support/operator-testbed.js';
import { startServiceProxy, type ServiceProxy } from '../support/tcp-relay.js';
import { waitFor } from '../support/wait-for.js';
import { lastAcknowledged, readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

const namespace = 'operator-failback-partition';
const sites = ['fp-a', 'fp-b', 'fp-c'] as const;
const name = 'failback-partition-demo';
const BLOCK = 4096;
const MiB = 1024 * 1024;
const SIZE = 16 * MiB;
/** The writer writes over the first 1024 blocks (4 MiB). */
const WRITER_BLOCKS = 1024;
/** 32 bytes, repeated through each divergent block: no verifiable block and no zero block contains it. */
const MARKER = 'DIVERGENT-fp-a-NEVER-ACKNOWLEDGED';

let testbed: OperatorTestbed;
let proxy: ServiceProxy | undefined;

const ok = (args: readonly string[], input?: string): Promise<string> => kubectlOk(['-n', namespace, ...args], input);
const volume = (): ReturnType<OperatorTestbed['volume']> => testbed.volume(name);
const dataPath = (node: string): string => testbed.dataPath(node, name);
const replica = (node: string): ReturnType<OperatorTestbed['replica']> => testbed.replica(node, name);

beforeAll(async () => {
  testbed = await OperatorTestbed.start({
    name: 'failback-partition', namespace, operatorNamespace: 'bunker-failback-partition-system', sites, subnet: 67, isolatedSite: 'fp-a',
  });
}, 360_000);

afterAll(async () => {
  await proxy?.close();
  await testbed?.stop();
}, 90_000);

/** Offsets (block-aligned where the marker starts a block) at which `path` holds the marker. */
async function markerOffsets(path: string): Promise<number[]> {
  const bytes = await readFile(path);
  const marker = Buffer.from(MARKER);
  const found: number[] = [];
  for (let at = bytes.indexOf(marker); at !== -1; at = bytes.indexOf(marker, at + BLOCK)) found.push(at);
  return found;
}

/** Files of a volume directory that hold the marker somewhere, with how many times (first hit per 4 KiB). */
async function markerInDir(dir: string): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const hits = await markerOffsets(join(dir, entry.name));
    if (hits.length > 0) found[entry.name] = hits.length;
  }
  return found;
}

describe('failback of an old primary that returns from a partition', () => {
  it('fences and resynchronizes it: its unacknowledged divergent writes are gone, the files end identical, no acknowledged write is lost', async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
      spec: {
        size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 2 }, resync: { bytesPerSecondMax: '2Mi' },
        placement: { primary: { node: 'fp-a' }, bunker: { node: 'fp-b' }, secondary: { node: 'fp-c' } },
      },
    }));
    await waitFor(`${name} to be Ready`, async () => ((await volume()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
    const oldEndpoint = testbed.endpoint('fp-a');
    const newEndpoint = testbed.endpoint('fp-c');
    expect((await volume()).status?.endpoint?.address).toBe(oldEndpoint);

    // 1. Verifiable writes through the Service, to the old primary.
    const ackLog = join(testbed.baseDir, 'writer.acks');
    proxy = await startServiceProxy({ kubeConfig: testCluster().kubeConfig, namespace, name, pollMs: 200 });
    const writer = testbed.spawnWriter(`nbd://${proxy.host}:${proxy.port}/${namespace}/${name}`, ackLog, { blocks: WRITER_BLOCKS, seconds: 100, seed: 23 });
    await waitFor('writes acknowledged by the old primary', async () => ((await acknowledged(ackLog)) > 400 ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });

    // 2. The cut; the kubelet's NotReady; divergent writes inside the old primary's namespace.
    const cutAt = Date.now();
    await testbed.isolatedHost().cut();
    await markNodeNotReady('fp-a');
    const acked = await lastAcknowledged(ackLog);
    const writtenOffsets = [...acked.keys()].slice(0, 6);
    // Offsets nobody else writes: past the writer's span, in regions of their own.
    const untouchedOffsets = [0, 1, 2, 3].map((i) => 8 * MiB + i * 256 * 1024 + BLOCK);
    const divergentOffsets = [...writtenOffsets, ...untouchedOffsets];
    const second = await burstWrites(testbed.isolatedHost().netns, `nbd://${oldEndpoint}/${namespace}/${name}`, MARKER, divergentOffsets);
    process.stdout.write(`second client through the old primary during the cut ${second.summary}\n`);
    expect(second.answers[0]).toEqual({ connect: 'ok' });
    expect(second.answers.filter((a) => a.result === 'acknowledged')).toEqual([]);
    // The divergent writes reached the old primary's own storage (its log, maybe its data file).
    const divergentOnOldPrimary = await waitFor('the divergent writes on the old primary\'s storage', async () => {
      const found = await markerInDir(testbed.volumeDir('fp-a', name));
      return Object.keys(found).length > 0 ? found : undefined;
    }, { timeoutMs: 10_000, intervalMs: 250 });
    process.stdout.write(`divergent marker blocks on the old primary's storage before its return: ${JSON.stringify(divergentOnOldPrimary)}\n`);

    // 3. The takeover; more writes on the new primary.
    const taken = await waitFor('the takeover', async () => {
      const rv = await volume();
      return rv.status?.lastTakeover !== undefined && rv.status.endpoint?.address === newEndpoint ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const takeoverMs = Date.now() - cutAt;
    expect(taken.status).toMatchObject({ currentPrimary: 'fp-c', epoch: 2 });
    expect(taken.status?.lastTakeover).toMatchObject({ fromNode: 'fp-a', toNode: 'fp-c', acknowledgedWritesLost: 0 });
    const atTakeover = await acknowledged(ackLog);
    await waitFor('writes acknowledged by the new primary', async () => ((await acknowledged(ackLog)) > atTakeover + 600 ? true : undefined), { timeoutMs: 40_000, intervalMs: 100 });
    writer.child.kill('SIGTERM');
    await writer.exited;
    const totalAcks = await acknowledged(ackLog);
    const onNew = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath('fp-c'), offset, length));
    expect(onNew.lost).toEqual([]);
    expect(await markerOffsets(dataPath('fp-c'))).toEqual([]);
    // The true difference, from the two data files, before the old primary returns.
    await waitFor('fp-c to apply everything', async () => {
      const r = await replica('fp-c');
      return r !== undefined && r.appliedSeq === r.durableSeq ? true : undefined;
    }, { timeoutMs: 20_000 });
    const differenceWhileCut = await differingBytes(dataPath('fp-a'), dataPath('fp-c'), SIZE);

    // 4. The network comes back and the kubelet reports the Node Ready: fence, resync.
    await testbed.isolatedHost().restore();
    await ensureReadyNode('fp-a');
    const returnedAt = Date.now();
    const finished = await waitFor('the resync to finish', async () => {
      const r = (await volume()).status?.resync;
      return r?.state === 'Finished' && r.targetNode === 'fp-a' ? r : undefined;
    }, { timeoutMs: 120_000, intervalMs: 200 }).catch(async (error: unknown) => {
      const status = (await volume()).status;
      const logs = await Promise.all(sites.map(async (node) => `${node}:\n${(await readFile(join(testbed.baseDir, `${node}.log`), 'utf8').catch(() => '')).split('\n').filter((line) => /resync|follow|verif|configure|refused|failed/i.test(line)).slice(-15).join('\n')}`));
      process.stdout.write(`resync did not finish: ${JSON.stringify({ resync: status?.resync, conditions: status?.conditions, roles: status?.roles })}\n${logs.join('\n')}\n`);
      throw error;
    });
    const resyncMs = Date.now() - returnedAt;
    const fenced = await replica('fp-a');
    expect(fenced).toMatchObject({ role: Role.ROLE_SECONDARY, epoch: 2, nbdAddress: '' });
    expect(finished).toMatchObject({ scope: 'Changed', sourceNode: 'fp-c', targetNode: 'fp-a' });
    const copied = finished.bytesCopied ?? -1;
    process.stdout.write(`failback after a partition: ${totalAcks} writes acknowledged (${atTakeover} before the takeover), cut to takeover ${takeoverMs} ms; ` +
      `data files differed by ${differenceWhileCut} bytes before the return (${divergentOffsets.length} divergent marker blocks written); ` +
      `resync: scope ${finished.scope}, ${finished.regionsTotal} regions, compared ${finished.bytesDone} of ${finished.bytesTotal} bytes, ` +
      `copied ${copied}, skipped ${finished.bytesSkipped}, rate ${finished.rateBytesPerSecond} B/s, return to Finished ${resyncMs} ms; ${finished.message}\n`);
    expect(copied).toBeGreaterThanOrEqual(untouchedOffsets.length * BLOCK);
    expect(finished.bytesDone ?? 0).toBeLessThan(SIZE);
    expect((await volume()).status?.conditions?.find((c) => c.type === 'Resyncing')).toMatchObject({ status: 'False', reason: 'ResyncFinished' });

    // 5. Writes have stopped: once both have applied everything, the files are byte-identical.
    await waitFor('the data files to be identical', async () => {
      const [a, c] = [await replica('fp-a'), await replica('fp-c')];
      if (a === undefined || c === undefined || c.appliedSeq !== c.durableSeq || a.appliedSeq < c.appliedSeq) return undefined;
      return (await differingBytes(dataPath('fp-a'), dataPath('fp-c'), SIZE)) === 0 ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    // The new history won: the marker is nowhere on the old primary's data file.
    expect(await markerOffsets(dataPath('fp-a'))).toEqual([]);
    for (const offset of untouchedOffsets) expect((await readFileRange(dataPath('fp-a'), offset, BLOCK)).equals(Buffer.alloc(BLOCK))).toBe(true);
    // Every acknowledged write, before the cut and after the takeover, is on both replicas.
    for (const node of ['fp-a', 'fp-c']) {
      const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath(node), offset, length));
      process.stdout.write(`${node}: ${result.blocksChecked} acknowledged blocks checked, ${result.lost.length} lost\n`);
      expect(result.blocksChecked).toBeGreaterThan(300);
      expect(result.lost).toEqual([]);
    }
    await waitFor(`${name} to be Ready again`, async () => ((await volume()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });
  }, 300_000);
});
