// Takeover time against the bunker's backlog, and detection time against the grace period.
//
// Backlog runs (one fresh trio and volume each, gracePeriodSeconds 2): the secondary is
// paused (SIGSTOP) while B MiB are written through the primary with 1 MiB requests (qemu-io),
// so the bunker holds B MiB the secondary lacks; the secondary resumes, the primary's agent is
// SIGKILLed and its Node marked NotReady at once (as the integration test does: detection is
// then the Node condition), and the new primary must drain the backlog before serving.
// Measured: kill → the secondary reporting itself primary with an NBD address (polled every
// 50 ms), and the operator's status.lastTakeover.durationSeconds (fence → serving).
//
// Detection runs (backlog 0): the primary's agent is SIGKILLed and nothing else is said: the
// operator has to notice its heartbeat Lease expire (agents run with --lease-duration-seconds
// 2), then wait the grace period. Measured: kill → status.lastTakeover.startedAt (the takeover
// started), against gracePeriodSeconds.
import { runClient } from '../../test/support/nbd-clients.js';
import { waitFor } from '../../test/support/wait-for.js';
import { MiB, replicaOn, say, type Cluster } from './harness.js';

export const BACKLOG_GRACE_SECONDS = 2;
export const DETECTION_LEASE_SECONDS = 2;

export interface BacklogRun {
  readonly backlogMiB: number;
  readonly backlogEntries: number;
  readonly writeSeconds: number;
  readonly servingSeconds: number;
  readonly durationSeconds: number;
  readonly detectionSeconds: number;
  readonly bytesDrained: number;
  readonly entriesReplayed: number;
  readonly lost: number;
}

export interface DetectionRun {
  readonly graceSeconds: number;
  readonly detectionSeconds: number;
  readonly servingSeconds: number;
  readonly durationSeconds: number;
  readonly reason: string;
}

async function writeBacklog(uri: string, mib: number): Promise<number> {
  const started = performance.now();
  for (let from = 0; from < mib; from += 64) {
    const writes = Array.from({ length: Math.min(64, mib - from) }, (_, i) => ['-c', `write -q -P 0x5b ${(from + i) * MiB} ${MiB}`]).flat();
    const wrote = await runClient('qemu-io', ['-f', 'raw', ...writes, uri], { timeoutMs: 300_000 });
    if (wrote.code !== 0) throw new Error(`qemu-io failed: ${wrote.stderr}`);
  }
  return (performance.now() - started) / 1000;
}

async function takeoverRecord(cluster: Cluster, name: string): Promise<{ durationSeconds: number; startedAt: string; bytesDrained: number; entriesReplayed: number; acknowledgedWritesLost: number; reason: string }> {
  return waitFor('the takeover record', async () => (await cluster.volume(name)).status?.lastTakeover, { timeoutMs: 60_000, intervalMs: 100 });
}

export async function backlogRun(cluster: Cluster, index: number, backlogMiB: number): Promise<BacklogRun> {
  const name = `backlog-${index}`;
  const trio = await cluster.trio(`tb${index}`);
  try {
    const { primary, secondary } = trio.nodes;
    await cluster.createVolume({ name, trio, size: `${Math.max(64, backlogMiB)}Mi`, log: `${Math.max(64, 2 * backlogMiB)}Mi`, graceSeconds: BACKLOG_GRACE_SECONDS });
    let writeSeconds = 0;
    let backlogEntries = 0;
    if (backlogMiB > 0) {
      trio.agent(secondary).process.child.kill('SIGSTOP');
      writeSeconds = await writeBacklog(`nbd://${trio.agent(primary).host}:${trio.agent(primary).nbdPort}/bench-cluster/${name}`, backlogMiB);
      const p = await replicaOn(trio.agent(primary), name);
      backlogEntries = (p?.bunkerDurableSeq ?? 0) - (p?.secondaryDurableSeq ?? 0);
      trio.agent(secondary).process.child.kill('SIGCONT');
    }
    const killedAt = Date.now();
    await trio.agent(primary).kill();
    trio.agents.delete(primary);
    await cluster.markNotReady(primary);
    await waitFor('the new primary to serve', async () => {
      const status = await replicaOn(trio.agent(secondary), name).catch(() => undefined);
      return status?.role === 1 && status.nbdAddress !== '' ? true : undefined;
    }, { timeoutMs: 180_000, intervalMs: 50 });
    const servingSeconds = (Date.now() - killedAt) / 1000;
    const record = await takeoverRecord(cluster, name);
    const run: BacklogRun = {
      backlogMiB, backlogEntries, writeSeconds, servingSeconds, durationSeconds: record.durationSeconds,
      detectionSeconds: (Date.parse(record.startedAt) - killedAt) / 1000, bytesDrained: record.bytesDrained, entriesReplayed: record.entriesReplayed,
      lost: record.acknowledgedWritesLost,
    };
    say(`  backlog ${backlogMiB} MiB (${backlogEntries} entries, written in ${writeSeconds.toFixed(1)} s): kill → serving ${servingSeconds.toFixed(2)} s, ` +
      `durationSeconds ${record.durationSeconds}, drained ${record.bytesDrained} bytes`);
    return run;
  } finally {
    await cluster.deleteVolume(name);
    await cluster.stopTrio(trio);
  }
}

export async function detectionRun(cluster: Cluster, index: number, graceSeconds: number): Promise<DetectionRun> {
  const name = `detect-${index}`;
  const trio = await cluster.trio(`td${index}`, { leaseSeconds: DETECTION_LEASE_SECONDS });
  try {
    const { primary, secondary } = trio.nodes;
    await cluster.createVolume({ name, trio, size: '64Mi', log: '64Mi', graceSeconds });
    const killedAt = Date.now();
    await trio.agent(primary).kill();
    trio.agents.delete(primary);
    await waitFor('the new primary to serve', async () => {
      const status = await replicaOn(trio.agent(secondary), name).catch(() => undefined);
      return status?.role === 1 && status.nbdAddress !== '' ? true : undefined;
    }, { timeoutMs: 120_000, intervalMs: 50 });
    const servingSeconds = (Date.now() - killedAt) / 1000;
    const record = await takeoverRecord(cluster, name);
    const run: DetectionRun = {
      graceSeconds, detectionSeconds: (Date.parse(record.startedAt) - killedAt) / 1000, servingSeconds, durationSeconds: record.durationSeconds, reason: record.reason,
    };
    say(`  grace ${graceSeconds} s: kill → takeover started ${run.detectionSeconds.toFixed(2)} s (${record.reason}), kill → serving ${servingSeconds.toFixed(2)} s`);
    return run;
  } finally {
    await cluster.deleteVolume(name);
    await cluster.stopTrio(trio);
  }
}
