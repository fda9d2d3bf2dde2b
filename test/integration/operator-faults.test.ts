// Faults of real disks under the real operator, injected into the agents' real files through
// their test-only --fault-file (agent/src/faults): the primary's data volume starts returning
// EIO on writes in the middle of verifiable writes, the agent reports it (status, metric) and
// the operator takes over at once (reason VolumeFailed) with no acknowledged write lost; then
// the bunker's log fdatasync becomes slow, and writes go on, slower, with none lost; then the
// primary's change log file returns ENOSPC on writes. The log is allocated whole when the
// volume is created (volume-storage.ts), so on ext4 or xfs a full file system cannot reach it
// afterwards; a log file that still cannot be written is a failed device, and the operator
// takes over as for EIO (a full log, by its size, follows spec.log.fillPolicy instead:
// test/e2e/agent-log-full.test.ts).
// Nodes are fi-a/fi-b/fi-c, so the other operator tests' nodes are never touched.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acknowledged, OperatorTestbed } from '../support/operator-testbed.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

let testbed: OperatorTestbed;
const faultFile = (node: string, baseDir: string): string => join(baseDir, `${node}.faults.json`);
const inject = (node: string, plan: object): Promise<void> => writeFile(faultFile(node, testbed.baseDir), JSON.stringify(plan));

beforeAll(async () => {
  testbed = await OperatorTestbed.start({
    name: 'faults', namespace: 'operator-faults', operatorNamespace: 'bunker-faults-system', sites: ['fi-a', 'fi-b', 'fi-c'], subnet: 74,
    // A missing fault file means no faults; the tests write it when they want one.
    agentArgs: (node, baseDir) => ['--fault-file', faultFile(node, baseDir)],
  });
}, 360_000);

afterAll(async () => {
  await testbed?.stop();
}, 90_000);

const placedAt = (primary: string, bunker: string, secondary: string): object => ({
  size: '16Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 2 },
  placement: { primary: { node: primary }, bunker: { node: bunker }, secondary: { node: secondary } },
});

describe('faults of real disks', () => {
  it('takes over at once from a primary whose data volume returns EIO, and loses no acknowledged write', async () => {
    const name = 'eio';
    await testbed.createVolume(name, placedAt('fi-a', 'fi-b', 'fi-c'));
    const ackLog = join(testbed.baseDir, 'eio.acks');
    const writing = testbed.writer('fi-a', name, ackLog, { blocks: 1024, seconds: 20, seed: 41 });
    await waitFor('writes to be acknowledged', async () => ((await acknowledged(ackLog)) > 200 ? true : undefined), { timeoutMs: 20_000 });
    const failedAt = Date.now();
    await inject('fi-a', { data: { errno: 'EIO', ops: ['write'] } });
    const done = await waitFor('the takeover from the failed volume', async () => {
      const rv = await testbed.volume(name);
      return rv.status?.lastTakeover !== undefined ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const tookMs = Date.now() - failedAt;
    await writing;
    expect(done.status?.lastTakeover).toMatchObject({ reason: 'VolumeFailed', fromNode: 'fi-a', toNode: 'fi-c', acknowledgedWritesLost: 0 });
    expect(await testbed.agent('fi-a').metrics()).toMatch(/bunker_data_volume_failed\{[^}]*volume="operator-faults\/eio"[^}]*\} 1/);
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(testbed.dataPath('fi-c', name), offset, length));
    process.stdout.write(`EIO on the primary's data volume → takeover recorded in ${tookMs} ms (no grace period); ${result.blocksChecked} acknowledged blocks checked, ${result.lost.length} lost\n`);
    expect(result.lost).toEqual([]);
    await inject('fi-a', {});
  }, 180_000);

  it('goes on, slower, when the bunker\'s log fdatasync is slow, and loses nothing', async () => {
    const name = 'slow-sync';
    await testbed.createVolume(name, placedAt('fi-c', 'fi-b', 'fi-a'));
    const ackLog = join(testbed.baseDir, 'slow.acks');
    const writing = testbed.writer('fi-c', name, ackLog, { blocks: 1024, seconds: 12, seed: 42 });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const fast = await acknowledged(ackLog);
    await inject('fi-b', { log: { delayMs: 100, delayOps: ['sync'] } });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const slowStart = await acknowledged(ackLog);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const slow = (await acknowledged(ackLog)) - slowStart;
    await inject('fi-b', {});
    expect(await writing).toMatchObject({ code: 0 });
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(testbed.dataPath('fi-c', name), offset, length));
    process.stdout.write(`slow bunker fdatasync (100 ms): ${fast} writes in 4 s before, ${slow} in 4 s during; ${result.blocksChecked} acknowledged blocks checked, ${result.lost.length} lost\n`);
    expect(slow).toBeGreaterThan(0);
    expect(slow).toBeLessThan(fast);
    expect(result.lost).toEqual([]);
    expect((await testbed.volume(name)).status?.currentPrimary).toBe('fi-c');
  }, 120_000);

  it('takes over from a primary whose change log file returns ENOSPC, and loses no acknowledged write', async () => {
    const name = 'log-enospc';
    await testbed.createVolume(name, placedAt('fi-b', 'fi-a', 'fi-c'));
    const ackLog = join(testbed.baseDir, 'enospc.acks');
    const writing = testbed.writer('fi-b', name, ackLog, { blocks: 1024, seconds: 20, seed: 43 });
    await waitFor('writes to be acknowledged', async () => ((await acknowledged(ackLog)) > 200 ? true : undefined), { timeoutMs: 20_000 });
    const failedAt = Date.now();
    await inject('fi-b', { log: { errno: 'ENOSPC', ops: ['write'] } });
    const failed = await waitFor('the primary to report its failure', async () => {
      const held = await testbed.replica('fi-b', name).catch(() => undefined);
      return held !== undefined && /ENOSPC/.test(held.healthMessage) ? held : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    const done = await waitFor('the takeover from the failed log', async () => {
      const rv = await testbed.volume(name);
      return rv.status?.lastTakeover !== undefined ? rv : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const tookMs = Date.now() - failedAt;
    await inject('fi-b', {});
    await writing;
    expect(done.status?.lastTakeover).toMatchObject({ reason: 'VolumeFailed', fromNode: 'fi-b', toNode: 'fi-c', acknowledgedWritesLost: 0 });
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(testbed.dataPath('fi-c', name), offset, length));
    process.stdout.write(`ENOSPC on the primary's change log → "${failed.healthMessage}"; takeover recorded in ${tookMs} ms; ` +
      `${result.blocksChecked} acknowledged blocks checked, ${result.lost.length} lost\n`);
    expect(result.lost).toEqual([]);
  }, 180_000);
});
