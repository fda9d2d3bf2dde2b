// Re-protection under the real operator. The secondary's agent is killed and its Node goes
// NotReady; after three grace periods the operator places the secondary on the spare named in
// spec.placement.spares, copies the volume to it in full (status.resync, condition Resyncing),
// and the volume is Ready again with the spare following; its data file ends identical to the
// primary's. Then the bunker of a second volume is lost under writes: writes wait (recovery:
// sync, onBunkerLoss: block) until a spare becomes the new bunker and has caught up, and none
// acknowledged is lost. Nodes are sp-a..sp-e, so the other operator tests' nodes are never touched.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReplicatedVolume } from '../../operator/src/api/index.js';
import { markNodeNotReady } from '../support/operator-process.js';
import { acknowledged, OperatorTestbed } from '../support/operator-testbed.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

const name = 'spare-demo';
let testbed: OperatorTestbed;

beforeAll(async () => {
  testbed = await OperatorTestbed.start({ name: 'spare', namespace: 'operator-spare', operatorNamespace: 'bunker-spare-system', sites: ['sp-a', 'sp-b', 'sp-c', 'sp-d', 'sp-e'], subnet: 73 });
}, 360_000);

afterAll(async () => {
  await testbed?.stop();
}, 90_000);

const dataFile = (node: string, volume = name): Promise<Buffer> => readFile(testbed.dataPath(node, volume));

describe('re-protection on a spare', () => {
  it('replaces a lost secondary with the spare, copies the volume to it in full, and is Ready again', async () => {
    await testbed.createVolume(name, {
      size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 2 },
      placement: { primary: { node: 'sp-a' }, bunker: { node: 'sp-b' }, secondary: { node: 'sp-c' }, spares: ['sp-d'] },
    });
    const volume = (): Promise<ReplicatedVolume> => testbed.volume(name);
    const written = await testbed.writer('sp-a', name, join(testbed.baseDir, 'writes.acks'), { blocks: 2048, writes: 600, seconds: 30, seed: 31 });
    expect(written).toMatchObject({ code: 0 });

    const lostAt = Date.now();
    await testbed.killAgent('sp-c');
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
    await testbed.createVolume(second, {
      size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 2 },
      placement: { primary: { node: 'sp-a' }, bunker: { node: 'sp-d' }, secondary: { node: 'sp-b' }, spares: ['sp-e'] },
    });
    const get = (): Promise<ReplicatedVolume> => testbed.volume(second);
    const ackLog = join(testbed.baseDir, 'bunker.acks');
    const count = (): Promise<number> => acknowledged(ackLog);
    const writer = testbed.writer('sp-a', second, ackLog, { blocks: 1024, seconds: 45, seed: 32, reconnect: true });
    await waitFor('writes to be acknowledged', async () => ((await count()) > 200 ? true : undefined), { timeoutMs: 20_000 });

    const lostAt = Date.now();
    await testbed.killAgent('sp-d');
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
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(testbed.dataPath('sp-a', second), offset, length));
    process.stdout.write(`bunker lost → spare sp-e is the bunker and the volume Ready in ${flowingMs} ms; ${result.blocksChecked} acknowledged blocks checked, ${result.lost.length} lost\n`);
    expect(ready.status?.conditions?.find((c) => c.type === 'RecoveryCopyInSync')).toMatchObject({ status: 'True', reason: 'InSync' });
    expect(result.lost).toEqual([]);
  }, 300_000);
});
