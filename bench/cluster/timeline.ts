// What the consumer sees across a takeover, a failback and a migration: one writer
// (test/support/verifiable-writer.py, QD1, 4 KiB, --timing) follows the volume's endpoint
// through a file the benchmark rewrites every 100 ms from status.endpoint (as the failback
// test does), reconnecting after every error. The writer records each acknowledged write's
// start and end; they are bucketed per 100 ms (IOPS, mean and worst latency) and the longest
// stretch without an acknowledgement is found around each event.
//
//   steady writes → primary SIGKILLed, its Node NotReady (takeover) → writes on the new
//   primary → the old primary's agent restarts, its Node Ready (the operator fences it and
//   resynchronizes it: failback) → resync finished → spec.migrate back to it → writes there.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../test/support/control-plane.js';
import { waitFor } from '../../test/support/wait-for.js';
import { NAMESPACE, portsOf, say, sleep, type Cluster } from './harness.js';
import type { TimelineBucket, TimelineEvent } from '../plots/plots.js';

type ResyncRecord = NonNullable<NonNullable<Awaited<ReturnType<Cluster['volume']>>['status']>['resync']>;

export const BUCKET_MS = 100;
const GRACE_SECONDS = 2;

export interface Write {
  readonly start: number;
  readonly end: number;
}

export interface TimelineResult {
  readonly buckets: TimelineBucket[];
  readonly events: TimelineEvent[];
  readonly writes: number;
  readonly takeover: { readonly gapSeconds: number; readonly durationSeconds: number; readonly killToEndpointSeconds: number };
  readonly failback: {
    readonly gapSeconds: number; readonly resyncSeconds: number; readonly bytesCopied: number; readonly iopsDuring: number;
    /** How long the writer was paused so that the resync could finish (0: it finished under writes). */
    readonly writerPausedSeconds: number; readonly resyncUnderWritesSeconds: number;
  };
  readonly migration: { readonly gapSeconds: number; readonly pauseSeconds: number; readonly requestToEndpointSeconds: number };
  readonly steadyIops: number;
  readonly steadyP50Ms: number;
  readonly steadyP99Ms: number;
}

export function parseTiming(text: string): Write[] {
  const writes: Write[] = [];
  for (const line of text.split('\n')) {
    const [, , start, end] = line.trim().split(' ');
    if (start !== undefined && end !== undefined) writes.push({ start: Number(start), end: Number(end) });
  }
  return writes.sort((a, b) => a.end - b.end);
}

/** Writes bucketed by acknowledgement time: IOPS and mean/worst latency per bucket, t in seconds from t0. */
export function bucketize(writes: readonly Write[], t0: number, t1: number, bucketMs: number): TimelineBucket[] {
  const count = Math.max(1, Math.ceil(((t1 - t0) * 1000) / bucketMs));
  const sums = Array.from({ length: count }, () => ({ n: 0, latency: 0 }));
  for (const w of writes) {
    const index = Math.floor(((w.end - t0) * 1000) / bucketMs);
    const bucket = sums[index];
    if (bucket === undefined) continue;
    bucket.n += 1;
    bucket.latency += (w.end - w.start) * 1000;
  }
  return sums.map((b, i) => ({ t: (i * bucketMs) / 1000, iops: (b.n * 1000) / bucketMs, ...(b.n > 0 ? { latencyMs: b.latency / b.n } : {}) }));
}

/** Longest time between consecutive acknowledgements (or from `from` to the first) within [from, to], seconds. */
export function longestGap(writes: readonly Write[], from: number, to: number): number {
  let last = from;
  let gap = 0;
  for (const w of writes) {
    if (w.end < from) continue;
    if (w.end > to) break;
    gap = Math.max(gap, w.end - last);
    last = w.end;
  }
  return last === from ? to - from : gap;
}

function latencies(writes: readonly Write[], from: number, to: number): number[] {
  return writes.filter((w) => w.end >= from && w.end <= to).map((w) => (w.end - w.start) * 1000).sort((a, b) => a - b);
}

export async function timelineRun(cluster: Cluster, quick: boolean): Promise<TimelineResult> {
  const name = 'timeline';
  const trio = await cluster.trio('tl');
  const { primary, secondary } = trio.nodes;
  const timingPath = join(cluster.baseDir, 'timeline.timing');
  const ackPath = join(cluster.baseDir, 'timeline.acks');
  const uriFile = join(cluster.baseDir, 'timeline.uri');
  let writer: ChildProcess | undefined;
  let follower: NodeJS.Timeout | undefined;
  const events: Array<{ at: number; label: string }> = [];
  const mark = (label: string): number => {
    const at = Date.now() / 1000;
    events.push({ at, label });
    say(`  ${label}`);
    return at;
  };
  const acked = async (): Promise<number> => (await readFile(timingPath, 'utf8').catch(() => '')).split('\n').length - 1;
  const steadyMs = quick ? 3_000 : 6_000;
  const resyncUnderWritesMs = quick ? 60_000 : 120_000;
  try {
    await cluster.createVolume({ name, trio, size: '32Mi', log: '64Mi', graceSeconds: GRACE_SECONDS, resyncBytesPerSecond: quick ? '16Mi' : '8Mi' });
    const follow = async (): Promise<void> => {
      const address = (await cluster.volume(name)).status?.endpoint?.address;
      if (address !== undefined) await writeFile(uriFile, `nbd://${address}/${NAMESPACE}/${name}\n`);
    };
    await follow();
    writer = spawn('/usr/bin/python3', [
      join(repoRoot, 'test/support/verifiable-writer.py'), '--uri-file', uriFile, '--reconnect', '--ack-log', ackPath, '--timing', timingPath,
      '--blocks', '8192', '--seconds', '900', '--seed', '21',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let writerErrors = '';
    writer.stderr?.setEncoding('utf8').on('data', (chunk: string) => { writerErrors = (writerErrors + chunk).slice(-4000); });
    follower = setInterval(() => void follow().catch(() => undefined), 100);
    await waitFor('the writer to write', async () => ((await acked()) > 50 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    const steadyFrom = Date.now() / 1000;
    await sleep(steadyMs);
    const steadyTo = Date.now() / 1000;

    // Takeover.
    const bOld = trio.agent(primary);
    const oldPorts = portsOf(bOld);
    const killedAt = mark('primary killed');
    await bOld.kill();
    trio.agents.delete(primary);
    await cluster.markNotReady(primary);
    const newEndpoint = `${trio.agent(secondary).host}:${trio.agent(secondary).nbdPort}`;
    await waitFor('the takeover', async () => ((await cluster.volume(name)).status?.endpoint?.address === newEndpoint ? true : undefined), { timeoutMs: 90_000, intervalMs: 50 });
    const endpointAt = Date.now() / 1000;
    const takeover = (await waitFor('the takeover record', async () => (await cluster.volume(name)).status?.lastTakeover, { timeoutMs: 30_000, intervalMs: 100 }));
    const afterTakeover = await acked();
    await waitFor('writes on the new primary', async () => ((await acked()) > afterTakeover + 50 ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    await sleep(quick ? 2_000 : 4_000);

    // Failback: the old primary returns and is resynchronized.
    const backAt = mark('old primary back');
    await cluster.restart(trio, primary, oldPorts);
    const resyncDone = async (): Promise<ResyncRecord | undefined> => {
      const r = (await cluster.volume(name)).status?.resync;
      return r?.state === 'Finished' && r.targetNode === primary ? r : undefined;
    };
    // The resync runs under the writer. Should it not finish in time under writes, the writer
    // is paused (SIGSTOP) until it has (at most 3 more minutes), so that the migration can
    // still be measured; the chart and the table say so.
    let resync = await waitFor('the failback resync to finish', resyncDone, { timeoutMs: resyncUnderWritesMs, intervalMs: 100 }).catch(() => undefined);
    let writerPausedSeconds = 0;
    if (resync === undefined) {
      const pausedAt = mark(`writer paused (resync unfinished after ${resyncUnderWritesMs / 1000} s)`);
      writer.kill('SIGSTOP');
      try {
        resync = await waitFor('the failback resync to finish with the writer paused', resyncDone, { timeoutMs: 180_000, intervalMs: 100 });
      } finally {
        writer.kill('SIGCONT');
      }
      writerPausedSeconds = Date.now() / 1000 - pausedAt;
    }
    const resyncedAt = mark('resync finished');
    await waitFor(`${name} to be Ready again`, async () => ((await cluster.volume(name)).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    await sleep(quick ? 2_000 : 4_000);

    // Migration back to the old primary's node.
    const requestedAt = mark('migrate requested');
    await cluster.patchVolume(name, { spec: { migrate: { requestId: 'bench-1', targetNode: primary } } });
    const backEndpoint = `${trio.agent(primary).host}:${trio.agent(primary).nbdPort}`;
    const migrated = await waitFor('the migration', async () => {
      const status = (await cluster.volume(name)).status;
      return status?.lastMigration?.requestId === 'bench-1' && status.endpoint?.address === backEndpoint ? status.lastMigration : undefined;
    }, { timeoutMs: 90_000, intervalMs: 50 });
    const migratedAt = Date.now() / 1000;
    const atSwitch = await acked();
    await waitFor('writes after the migration', async () => ((await acked()) > atSwitch + 50 ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    await sleep(quick ? 2_000 : 4_000);
    const endAt = mark('end');
    writer.kill('SIGTERM');
    await new Promise((resolve) => { if (writer?.exitCode !== null || writer.signalCode !== null) resolve(undefined); else writer.once('exit', resolve); });
    if (writerErrors.includes('Traceback')) throw new Error(`the writer failed: ${writerErrors}`);

    const writes = parseTiming(await readFile(timingPath, 'utf8'));
    const t0 = writes.reduce((min, w) => Math.min(min, w.start), Number.POSITIVE_INFINITY);
    const steady = latencies(writes, steadyFrom, steadyTo);
    const pct = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
    const underWritesTo = resyncedAt - writerPausedSeconds;
    const during = writes.filter((w) => w.end >= backAt && w.end <= underWritesTo).length / Math.max(0.001, underWritesTo - backAt);
    const result: TimelineResult = {
      buckets: bucketize(writes, t0, endAt, BUCKET_MS),
      events: events.filter((e) => e.label !== 'end').map((e) => ({ t: e.at - t0, label: e.label })),
      writes: writes.length,
      takeover: { gapSeconds: longestGap(writes, killedAt - 0.5, endpointAt + 30), durationSeconds: takeover.durationSeconds, killToEndpointSeconds: endpointAt - killedAt },
      failback: {
        gapSeconds: writerPausedSeconds > 0 ? Number.NaN : longestGap(writes, backAt, resyncedAt + 1), resyncSeconds: resyncedAt - backAt, bytesCopied: resync.bytesCopied ?? 0,
        iopsDuring: during, writerPausedSeconds, resyncUnderWritesSeconds: resyncUnderWritesMs / 1000,
      },
      migration: { gapSeconds: longestGap(writes, requestedAt - 0.5, migratedAt + 10), pauseSeconds: migrated.pauseSeconds, requestToEndpointSeconds: migratedAt - requestedAt },
      steadyIops: steady.length / Math.max(0.001, steadyTo - steadyFrom),
      steadyP50Ms: pct(steady, 0.5),
      steadyP99Ms: pct(steady, 0.99),
    };
    say(`  ${writes.length} writes; takeover gap ${result.takeover.gapSeconds.toFixed(2)} s, failback gap ${result.failback.gapSeconds.toFixed(2)} s, migration gap ${result.migration.gapSeconds.toFixed(2)} s`);
    return result;
  } finally {
    if (follower !== undefined) clearInterval(follower);
    if (writer !== undefined && writer.exitCode === null && writer.signalCode === null) writer.kill('SIGKILL');
    await cluster.deleteVolume(name);
    await cluster.stopTrio(trio);
  }
}
