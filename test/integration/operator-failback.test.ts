// Failback under the real operator, with real agents and a writer of verifiable blocks:
// the primary is killed mid-writes and the secondary takes over; more writes land on the new
// primary; the old primary's agent restarts (and must not serve: it waits for its role to be
// confirmed); the operator fences it and resynchronizes it by checksum, copying only what
// differs (the test measures the true difference from the two data files first); the
// resync is interrupted by killing either side's agent and resumes; the two data files end identical;
// then a migration under a writer moves the primary back with no acknowledged write lost.
// Nodes are fb-a/fb-b/fb-c, so the other operator tests' nodes are never touched.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReplicatedVolume } from '../../operator/src/api/index.js';
import { repoRoot } from '../support/control-plane.js';
import { runClient } from '../support/nbd-clients.js';
import { kubectlOk, markNodeNotReady, ensureReadyNode } from '../support/operator-process.js';
import { differingBytes } from '../support/data-diff.js';
import { acknowledged, OperatorTestbed } from '../support/operator-testbed.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

const namespace = 'operator-failback';
const name = 'failback-demo';
const MiB = 1024 * 1024;

let testbed: OperatorTestbed;

const ok = (args: readonly string[], input?: string): Promise<string> => kubectlOk(['-n', namespace, ...args], input);
const volume = (): Promise<ReplicatedVolume> => testbed.volume(name);
const agent = (node: string): ReturnType<OperatorTestbed['agent']> => testbed.agent(node);
const dataPath = (node: string): string => testbed.dataPath(node, name);


/** The replica's figures for this volume on one agent. */
async function replica(node: string): Promise<{ role: number; durableSeq: number; appliedSeq: number; nbdAddress: string; awaitingConfirmation: boolean } | undefined> {
  return (await agent(node).status()).volumes.find((v) => v.volume === `${namespace}/${name}`);
}

async function writer(ackLog: string, uri: { uri: string } | { uriFile: string }, args: readonly string[]): Promise<unknown> {
  const target = 'uri' in uri ? ['--uri', uri.uri] : ['--uri-file', uri.uriFile, '--reconnect'];
  return runClient('/usr/bin/python3', [join(repoRoot, 'test/support/verifiable-writer.py'), ...target, '--ack-log', ackLog, ...args], { timeoutMs: 90_000 });
}

const acks = acknowledged;

beforeAll(async () => {
  testbed = await OperatorTestbed.start({ name: 'failback', namespace, operatorNamespace: 'bunker-failback-system', sites: ['fb-a', 'fb-b', 'fb-c'], subnet: 66 });
}, 360_000);

afterAll(async () => {
  await testbed?.stop();
}, 90_000);

describe('failback under the operator', () => {
  it('resynchronizes the old primary by copying only what differs, resumes a killed resync, and migrates back with no loss', async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name },
      spec: {
        size: '32Mi', log: { size: '64Mi' }, failover: { gracePeriodSeconds: 2 }, resync: { bytesPerSecondMax: '1Mi' },
        placement: { primary: { node: 'fb-a' }, bunker: { node: 'fb-b' }, secondary: { node: 'fb-c' } },
      },
    }));
    await waitFor(`${name} to be Ready`, async () => ((await volume()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });

    // 1. Takeover under writes.
    const before = join(testbed.baseDir, 'before.acks');
    const first = writer(before, { uri: `nbd://${agent('fb-a').host}:${agent('fb-a').nbdPort}/${namespace}/${name}` }, ['--blocks', '2048', '--seconds', '20', '--seed', '11']);
    await waitFor('writes on fb-a', async () => ((await acks(before)) > 300 ? true : undefined), { timeoutMs: 20_000 });
    await testbed.killAgent('fb-a');
    await markNodeNotReady('fb-a');
    await waitFor('the takeover', async () => ((await volume()).status?.endpoint?.address === `${agent('fb-c').host}:${agent('fb-c').nbdPort}` ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    await first;

    // 2. More writes on the new primary, over a wider span than before.
    const after = join(testbed.baseDir, 'after.acks');
    await writer(after, { uri: `nbd://${agent('fb-c').host}:${agent('fb-c').nbdPort}/${namespace}/${name}` }, ['--blocks', '6144', '--writes', '3000', '--seconds', '45', '--seed', '12']);
    expect(await acks(after)).toBe(3000);

    // 3. The old primary's agent restarts while the operator is away: it reopens as primary of
    //    epoch 1, applies its incomplete writes, and does not serve until it is told its role.
    await testbed.stopOperator();
    await testbed.startAgent('fb-a');
    await ensureReadyNode('fb-a');
    const reopened = await waitFor('fb-a to reopen the volume', async () => {
      const r = await replica('fb-a');
      return r !== undefined && r.appliedSeq === r.durableSeq ? r : undefined;
    }, { timeoutMs: 20_000 });
    expect(reopened).toMatchObject({ awaitingConfirmation: true, nbdAddress: '' });
    await waitFor('fb-c to apply everything', async () => {
      const r = await replica('fb-c');
      return r !== undefined && r.appliedSeq === r.durableSeq ? true : undefined;
    }, { timeoutMs: 20_000 });
    const trueDifference = await differingBytes(dataPath('fb-a'), dataPath('fb-c'), 32 * MiB);
    expect(trueDifference).toBeGreaterThan(2 * MiB);

    // 4. The operator returns: fence, resync (killed halfway on the resynchronized side, resumed).
    await testbed.startOperator();
    const halfway = await waitFor('the resync to be halfway', async () => {
      const r = (await volume()).status?.resync;
      return r?.state === 'Running' && (r.bytesDone ?? 0) > (r.bytesTotal ?? 0) * 0.3 ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    await testbed.killAgent('fb-a');
    await testbed.startAgent('fb-a');
    let lowest = Number.POSITIVE_INFINITY;
    const observeResync = async (): Promise<NonNullable<NonNullable<ReplicatedVolume['status']>['resync']> | undefined> => {
      const r = (await volume()).status?.resync;
      if (r?.state === 'Running' && r.bytesDone !== undefined && r.bytesDone > 0) lowest = Math.min(lowest, r.bytesDone);
      return r;
    };
    // ... and on the source side: the primary's agent is killed and back within the grace of
    // its Lease; it waits for the operator to confirm its role, and the resync goes on.
    const further = await waitFor('the resync to go on past the first kill', async () => {
      const r = await observeResync();
      return r?.state === 'Running' && (r.bytesDone ?? 0) > (halfway.bytesDone ?? 0) + MiB ? r : r?.state === 'Verifying' || r?.state === 'Finished' ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const sourceKilledAt = further.bytesDone ?? 0;
    expect(further.state).toBe('Running');
    await testbed.killAgent('fb-c');
    await testbed.startAgent('fb-c');
    const finished = await waitFor('the resync to finish', async () => {
      const r = await observeResync();
      return r?.state === 'Finished' ? r : undefined;
    }, { timeoutMs: 120_000, intervalMs: 100 }).catch(async (error: unknown) => {
      // What the operator and the agents said, for whoever reads the failure.
      const status = (await volume()).status;
      const logs = await Promise.all(testbed.options.sites.map(async (node) => `${node}:\n${(await readFile(join(testbed.baseDir, `${node}.log`), 'utf8').catch(() => '')).split('\n').filter((line) => /resync|follow|verif|configure|refused|failed/i.test(line)).slice(-15).join('\n')}`));
      process.stdout.write(`resync did not finish: ${JSON.stringify({ resync: status?.resync, conditions: status?.conditions, roles: status?.roles })}\n${logs.join('\n')}\n`);
      throw error;
    });
    const copied = finished.bytesCopied ?? -1;
    process.stdout.write(`failback resync: true difference ${trueDifference} bytes, copied ${copied} bytes (${(copied / trueDifference).toFixed(3)}x), ` +
      `compared ${finished.bytesDone} of ${finished.bytesTotal}, scope ${finished.scope}; target killed at ${halfway.bytesDone} bytes compared, resumed at ${lowest}; ` +
      `source killed at ${sourceKilledAt}\n`);
    expect(finished).toMatchObject({ scope: 'Changed', sourceNode: 'fb-c', targetNode: 'fb-a' });
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThanOrEqual(trueDifference * 1.05 + 64 * 1024);
    expect(lowest).toBeGreaterThanOrEqual((halfway.bytesDone ?? 0) - MiB);
    const rv = await volume();
    expect(rv.status?.conditions?.find((c) => c.type === 'Resyncing')).toMatchObject({ status: 'False', reason: 'ResyncFinished' });
    await waitFor('the data files to be identical', async () => ((await differingBytes(dataPath('fb-a'), dataPath('fb-c'), 32 * MiB)) === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 });
    await waitFor(`${name} to be Ready again`, async () => ((await volume()).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });

    // 5. Migrate back to fb-a under a writer that follows the endpoint.
    const uriFile = join(testbed.baseDir, 'endpoint.uri');
    const follow = async (): Promise<void> => {
      const address = (await volume()).status?.endpoint?.address;
      if (address !== undefined) await writeFile(uriFile, `nbd://${address}/${namespace}/${name}\n`);
    };
    await follow();
    const migrating = join(testbed.baseDir, 'migrate.acks');
    const third = writer(migrating, { uriFile }, ['--blocks', '2048', '--seconds', '20', '--seed', '13']);
    await waitFor('writes on fb-c', async () => ((await acks(migrating)) > 300 ? true : undefined), { timeoutMs: 20_000 });
    const follower = setInterval(() => void follow().catch(() => undefined), 100);
    const requestedAt = Date.now();
    await ok(['patch', 'replicatedvolume', name, '--type', 'merge', '-p', JSON.stringify({ spec: { migrate: { requestId: 'back-1', targetNode: 'fb-a' } } })]);
    const migrated = await waitFor('the migration', async () => {
      const status = (await volume()).status;
      return status?.lastMigration?.requestId === 'back-1' && status.endpoint?.address === `${agent('fb-a').host}:${agent('fb-a').nbdPort}` ? status : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const switchedMs = Date.now() - requestedAt;
    const atSwitch = await acks(migrating);
    await waitFor('writes on fb-a', async () => ((await acks(migrating)) > atSwitch + 200 ? true : undefined), { timeoutMs: 20_000 });
    clearInterval(follower);
    await third;
    const result = await verifyAcknowledged(migrating, (offset, length) => readFileRange(dataPath('fb-a'), offset, length));
    process.stdout.write(`migration back to fb-a: request to new endpoint ${switchedMs} ms, pause recorded ${migrated.lastMigration?.pauseSeconds} s; ` +
      `${result.blocksChecked} acknowledged blocks checked, ${result.lost.length} lost\n`);
    expect(migrated).toMatchObject({ currentPrimary: 'fb-a', lastMigration: { fromNode: 'fb-c', toNode: 'fb-a', acknowledgedWritesLost: 0 } });
    expect(result.lost).toEqual([]);

    // 6. `kubectl describe` tells the volume's story by itself: conditions with reasons, the
    //    takeover, resync and migration records, the lag, and the Events in the order they came.
    await waitFor('the lag to be reported', async () => ((await volume()).status?.lag !== undefined ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });
    const story = await ok(['describe', 'replicatedvolume', name]);
    for (const field of ['Conditions:', 'Resyncing', 'ResyncFinished', 'Last Takeover:', 'Acknowledged Writes Lost:', 'Last Migration:', 'Pause Seconds:', 'Resync:', 'Bytes Copied:', 'Lag:', 'Events:']) {
      expect(story).toContain(field);
    }
    const events = story.slice(story.indexOf('Events:'));
    process.stdout.write(`kubectl describe, Events:\n${events}\n`);
    // (Events within the same second may be listed in either order: compare steps seconds apart.)
    const order = ['TakeoverCompleted', 'FailbackCompleted', 'MigrationCompleted'].map((reason) => ({ reason, at: events.indexOf(reason) }));
    expect(events).toContain('TakeoverStarted');
    expect(events).toContain('MigrationStarted');
    expect(events).not.toContain('TrackingChanges');
    expect(order.filter((event) => event.at < 0)).toEqual([]);
    expect([...order].sort((x, y) => x.at - y.at)).toEqual(order);
  }, 300_000);
});
