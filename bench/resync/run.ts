// Resynchronization benchmark (issue 9): three real agents driven over gRPC as the operator
// drives them (no operator): a primary (site-a), a bunker (site-b) and a secondary (site-c).
// Every run uses a volume of its own:
//   1. site-a serves it; 5% of its 4 KiB blocks are written (random bytes); site-c applies them;
//   2. site-a is killed; the bunker is fenced in epoch 2 and site-c drains it and is promoted;
//   3. a given share of the volume's blocks (random, distinct) is written on site-c;
//   4. site-a restarts (it reopens the volume and waits for its role); the true difference is
//      counted from the two data files (4 KiB blocks whose bytes differ);
//   5. site-a is fenced (role none, epoch 2) and the Resync RPC is called; while it runs the
//      call is repeated every second, as the operator's reconcile does; when it verifies,
//      site-c is told its secondary (the operator's "connect" step); then it must finish.
// Measured:
//   (a) throughput against the limit: every block changed, a full resync (full: true) at 8,
//       32, 128 MiB/s and 1 GiB/s: bytes copied / copy time (Resync call to Verifying), and
//       the paced rate after the first second (the limiter's burst is one second's worth);
//   (b) bytes copied against the bytes that differ, with 1%, 10% and 50% of the blocks changed.
// Writes the "## Resync" section of docs/benchmarks.md (other sections are left alone).
//
//   npm run bench:resync                 # 256 MiB volume, about 8 minutes on 2 shared CPUs
//   npm run bench:resync -- --quick      # 64 MiB volume, about 2 minutes
//   options: --no-doc  --keep (keep the temp folder)  --doc FILE
//
// Needs the built agent (`npx tsc -b`) and python3 with libnbd's bindings. Every agent is
// stopped in a finally block (and by its watchdog if this process is killed).
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { writeSectionTitled } from '../doc-sections.js';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Metadata } from '@grpc/grpc-js';
import {
  FillPolicy, RecoveryMode, ResyncState, Role, SecondaryMode, type ConfigureRequest, type Peer, type ResyncRequest, type ResyncResponse, type ResyncStatus, type VolumeStatus,
} from '@bunker/proto';
import { startAgent, type AgentProcess } from '../../test/support/agent-process.js';
import { repoRoot } from '../../test/support/control-plane.js';
import { runClient } from '../../test/support/nbd-clients.js';
import { differingBytes } from '../../test/support/data-diff.js';
import { waitFor } from '../../test/support/wait-for.js';

const MiB = 1024 * 1024;
const BLOCK = 4096;
const REGION_BYTES = 64 * 1024;
const SECTION_TITLE = '## Resync';

const { values: options } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'no-doc': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    doc: { type: 'string' },
  },
  strict: true,
});
const VOLUME_BYTES = (options.quick ? 64 : 256) * MiB;
const LOG_BYTES = 2 * VOLUME_BYTES;
const RATES = [8 * MiB, 32 * MiB, 128 * MiB, 1024 * MiB];
const SHARES = [0.01, 0.1, 0.5];
const docPath = options.doc ?? join(repoRoot, 'docs/benchmarks.md');
const say = (text: string): void => { process.stdout.write(`${text}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let baseDir = '';
const agents = new Map<string, AgentProcess>();
const ports = new Map<string, { grpcPort: number; nbdPort: number }>();

function agent(node: string): AgentProcess {
  const found = agents.get(node);
  if (found === undefined) throw new Error(`no agent ${node}`);
  return found;
}

async function start(node: string): Promise<void> {
  const kept = ports.get(node);
  const started = await startAgent({ node, baseDir, ...(kept ?? {}) });
  agents.set(node, started);
  ports.set(node, { grpcPort: Number(started.grpcAddress.split(':')[1]), nbdPort: started.nbdPort });
}

const peer = (node: string): Peer => ({ node, address: agent(node).grpcAddress });

function request(volume: string, uid: string, role: Role, epoch: number, peers: { primary?: string; bunker?: string; secondary?: string }): ConfigureRequest {
  return {
    volume, volumeUid: uid, epoch, role, sizeBytes: VOLUME_BYTES, logBytes: LOG_BYTES,
    recovery: RecoveryMode.RECOVERY_MODE_SYNC, secondary: SecondaryMode.SECONDARY_MODE_ASYNC,
    fillPolicy: FillPolicy.FILL_POLICY_TRACK_CHANGES, changeMapRegionBytes: REGION_BYTES,
    primary: peers.primary === undefined ? undefined : peer(peers.primary),
    bunker: peers.bunker === undefined ? undefined : peer(peers.bunker),
    secondaryPeer: peers.secondary === undefined ? undefined : peer(peers.secondary), clearChangeMap: false,
  };
}

async function volumeOn(node: string, volume: string): Promise<VolumeStatus | undefined> {
  return (await agent(node).status()).volumes.find((v) => v.volume === volume);
}

function resync(node: string, req: ResyncRequest): Promise<ResyncResponse> {
  const client = agent(node).client;
  return new Promise((resolve, reject) => {
    client.resync(req, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (error, response) => (error === null ? resolve(response) : reject(error)));
  });
}

function release(node: string, volume: string): Promise<void> {
  const client = agent(node).client;
  return new Promise((resolve) => {
    client.release({ volume, deleteData: true }, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, () => resolve());
  });
}

/** Writes `count` distinct random blocks of random bytes through NBD, 32 at a time, then flushes. */
const BLOCK_WRITER = `
import json, os, random, sys, time
import nbd
uri, size, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
blocks = random.Random(seed).sample(range(size // 4096), count)
h = nbd.NBD()
h.connect_uri(uri)
started = time.monotonic()
inflight = []
for b in blocks:
    while len(inflight) >= 32:
        h.poll(-1)
        inflight = [c for c in inflight if not h.aio_command_completed(c)]
    inflight.append(h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(os.urandom(4096))), b * 4096))
while inflight:
    h.poll(-1)
    inflight = [c for c in inflight if not h.aio_command_completed(c)]
h.flush()
h.shutdown()
print(json.dumps({"blocks": count, "seconds": time.monotonic() - started}))
`;

async function writeBlocks(node: string, volume: string, count: number, seed: number): Promise<number> {
  const uri = `nbd://${agent(node).host}:${agent(node).nbdPort}/${volume}`;
  const run = await runClient('/usr/bin/python3', ['-c', BLOCK_WRITER, uri, String(VOLUME_BYTES), String(count), String(seed)], { timeoutMs: 120_000 });
  if (run.code !== 0) throw new Error(`block writer failed (${run.code ?? run.signal}): ${run.stderr}`);
  return (JSON.parse(run.stdout.trim()) as { seconds: number }).seconds;
}


const dataPath = (node: string, volume: string): string => join(agent(node).dataDir, 'volumes', volume.replace('/', '__'), 'data.img');

interface RunResult {
  readonly share: number;
  readonly rate: number;
  readonly full: boolean;
  readonly writeSeconds: number;
  readonly trueDifference: number;
  readonly status: ResyncStatus;
  /** Resync call to the first look that saw it verifying. */
  readonly copyMs: number;
  /** Bytes copied per second over the whole copy. */
  readonly copyRate: number;
  /** Bytes copied per second over the second half of the bytes copied (the one-second burst left out). */
  readonly pacedRate: number;
  /** Bytes copied over what the limit allows in the copy time: limit × (copy time + the one-second burst). */
  readonly ofAllowed: number;
  /** Most bytes copied in any one-second window of the samples. */
  readonly peakOneSecond: number;
  readonly totalMs: number;
  readonly identical: boolean;
}

async function oneRun(index: number, share: number, rate: number, full: boolean): Promise<RunResult> {
  const volume = `bench/resync-${index}`;
  const uid = randomUUID();
  const blocks = VOLUME_BYTES / BLOCK;
  // 1. The volume on site-a, with some history that reaches site-c.
  await agent('site-b').configure(request(volume, uid, Role.ROLE_BUNKER, 1, { primary: 'site-a' }));
  await agent('site-c').configure(request(volume, uid, Role.ROLE_SECONDARY, 1, { primary: 'site-a' }));
  await agent('site-a').configure(request(volume, uid, Role.ROLE_PRIMARY, 1, { bunker: 'site-b', secondary: 'site-c' }));
  await waitFor('site-a to serve', async () => ((await volumeOn('site-a', volume))?.nbdAddress ? true : undefined), { timeoutMs: 20_000 });
  await writeBlocks('site-a', volume, Math.round(blocks * 0.05), 1000 + index);
  const durable = (await volumeOn('site-a', volume))?.durableSeq ?? 0;
  await waitFor('site-c to apply site-a\'s writes', async () => (((await volumeOn('site-c', volume))?.appliedSeq ?? 0) >= durable ? true : undefined), { timeoutMs: 60_000 });

  // 2. Takeover.
  await agent('site-a').kill();
  agents.delete('site-a');
  await agent('site-b').configure(request(volume, uid, Role.ROLE_BUNKER, 2, { primary: 'site-c' }));
  await new Promise<void>((resolve, reject) => {
    const call = agent('site-c').client.drain({ volume, epoch: 2, bunker: peer('site-b'), blockBytes: 4 * MiB }, { deadline: new Date(Date.now() + 60_000) });
    call.on('data', () => undefined);
    call.on('error', reject);
    call.on('end', () => resolve());
  });
  await agent('site-c').configure(request(volume, uid, Role.ROLE_PRIMARY, 2, { bunker: 'site-b' }));
  await waitFor('site-c to serve', async () => ((await volumeOn('site-c', volume))?.nbdAddress ? true : undefined), { timeoutMs: 20_000 });

  // 3. The new history.
  const writeSeconds = await writeBlocks('site-c', volume, Math.round(blocks * share), 2000 + index);
  await waitFor('site-c to apply its writes', async () => {
    const s = await volumeOn('site-c', volume);
    return s !== undefined && s.appliedSeq === s.durableSeq ? true : undefined;
  }, { timeoutMs: 60_000 });

  // 4. The old primary returns; the true difference.
  await start('site-a');
  await waitFor('site-a to reopen the volume', async () => {
    const s = await volumeOn('site-a', volume);
    return s !== undefined && s.appliedSeq === s.durableSeq ? true : undefined;
  }, { timeoutMs: 30_000 });
  const trueDifference = await differingBytes(dataPath('site-a', volume), dataPath('site-c', volume), VOLUME_BYTES);

  // 5. Fence, resync, connect, verify.
  await agent('site-a').configure(request(volume, uid, Role.ROLE_NONE, 2, { primary: 'site-c' }));
  const req: ResyncRequest = { volume, epoch: 2, source: peer('site-c'), bytesPerSecondMax: rate, full };
  const startedAt = Date.now();
  await resync('site-a', req);
  const samples: Array<{ at: number; copied: number }> = [{ at: startedAt, copied: 0 }];
  let lastCall = startedAt;
  let copyMs = 0;
  let connected = false;
  let status: ResyncStatus | undefined;
  for (;;) {
    await sleep(50);
    status = (await volumeOn('site-a', volume))?.resync;
    const now = Date.now();
    if (status === undefined) continue;
    if (status.state === ResyncState.RESYNC_STATE_FAILED) throw new Error(`resync failed: ${status.message}`);
    if (status.state === ResyncState.RESYNC_STATE_RUNNING) {
      samples.push({ at: now, copied: status.bytesCopied });
      if (now - lastCall >= 1_000) {
        lastCall = now;
        await resync('site-a', req);
      }
      continue;
    }
    if (copyMs === 0) {
      copyMs = now - startedAt;
      samples.push({ at: now, copied: status.bytesCopied });
    }
    if (!connected) {
      await agent('site-c').configure(request(volume, uid, Role.ROLE_PRIMARY, 2, { bunker: 'site-b', secondary: 'site-a' }));
      connected = true;
    }
    if (status.state === ResyncState.RESYNC_STATE_FINISHED) break;
    if (now - startedAt > 180_000) throw new Error(`resync did not finish in 180 s: ${status.message}`);
  }
  const totalMs = Date.now() - startedAt;
  await waitFor('site-a to apply everything', async () => {
    const [a, c] = [await volumeOn('site-a', volume), await volumeOn('site-c', volume)];
    return a !== undefined && c !== undefined && a.appliedSeq >= c.durableSeq ? true : undefined;
  }, { timeoutMs: 30_000 });
  const identical = (await differingBytes(dataPath('site-a', volume), dataPath('site-c', volume), VOLUME_BYTES)) === 0;
  const copied = status.bytesCopied;
  const halfway = samples.find((s) => s.copied >= copied / 2);
  const end = samples[samples.length - 1] ?? { at: startedAt, copied };
  const pacedRate = halfway !== undefined && end.at - halfway.at >= 500 ? ((end.copied - halfway.copied) / (end.at - halfway.at)) * 1000 : NaN;
  const ofAllowed = copied / (rate * (copyMs / 1000 + 1));
  let peakOneSecond = 0;
  for (const from of samples) {
    const to = [...samples].reverse().find((s) => s.at <= from.at + 1_000);
    if (to !== undefined && end.at - from.at >= 1_000) peakOneSecond = Math.max(peakOneSecond, to.copied - from.copied);
  }
  for (const node of ['site-a', 'site-b', 'site-c']) await release(node, volume);
  return {
    share, rate, full, writeSeconds, trueDifference, status, copyMs, copyRate: copyMs > 0 ? (copied / copyMs) * 1000 : NaN,
    pacedRate, ofAllowed, peakOneSecond, totalMs, identical,
  };
}

const mib = (bytes: number): string => (bytes / MiB).toFixed(bytes >= 100 * MiB ? 0 : bytes >= 10 * MiB ? 1 : 2);
const rateText = (bytesPerSecond: number): string => (Number.isFinite(bytesPerSecond) ? `${mib(bytesPerSecond)} MiB/s` : 'n/a');

function render(throughput: readonly RunResult[], differences: readonly RunResult[], machine: string, date: string, seconds: number): string {
  const lines: string[] = [
    SECTION_TITLE,
    '',
    `Measured by \`npm run bench:resync${options.quick ? ' -- --quick' : ''}\` (bench/resync/run.ts) on ${date}, ${machine}; the run took ${seconds.toFixed(0)} s.`,
    `Three real agents on loopback driven over gRPC as the operator drives them (no operator): a takeover from site-a to site-c, writes on the new primary, site-a restarted, fenced (role none in epoch 2) and resynchronized from site-c with the Resync RPC, repeated every second while it copies (as the operator's reconcile repeats it); when it verifies, site-c is given it as secondary; the run ends when it reports Finished. Volume ${mib(VOLUME_BYTES)} MiB, change-map regions ${REGION_BYTES / 1024} KiB, blocks compared by SHA-256 per 4 KiB. Every run ended with the two data files byte-identical: ${[...throughput, ...differences].every((r) => r.identical) ? 'yes' : 'NO'}.`,
    '',
    '### Goals (issue 9)',
    '',
    '- bytes copied ≤ 1.05 × the bytes that differ, plus metadata (the 32-byte checksums per 4 KiB block compared, both ways) — lower is better;',
    '- throughput within `spec.resync.bytesPerSecondMax` and close to it — closer to the limit (from below) is better. The limiter is a token bucket with a burst of one second\'s worth, so in a copy of T seconds it allows limit × (T + 1 s): "of allowed" is bytes copied over that (≤ 1.00 is within the limit; near 1.00 is close to it), and "paced" is the rate over the second half of the bytes copied, after the burst.',
    '',
    '### Throughput against the limit (every block changed, full resync)',
    '',
    '| limit | copied | copy time | average rate | paced rate (second half) | paced / limit | most in any 1 s | of allowed |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of throughput) {
    const ratio = Number.isFinite(r.pacedRate) ? (r.pacedRate / r.rate).toFixed(2) : 'n/a';
    lines.push(`| ${rateText(r.rate)} | ${mib(r.status.bytesCopied)} MiB | ${(r.copyMs / 1000).toFixed(2)} s | ${rateText(r.copyRate)} | ${rateText(r.pacedRate)} | ${ratio} | ${mib(r.peakOneSecond)} MiB | ${r.ofAllowed.toFixed(2)} |`);
  }
  lines.push('', '### Bytes copied against the bytes that differ (1 GiB/s limit)', '',
    '| blocks changed on the new primary | true difference | compared | copied | copied / difference | checksum metadata | goal met | copy time | Resync call to Finished |',
    '|---|---|---|---|---|---|---|---|---|');
  for (const r of differences) {
    // Checksums requested for every compared block, in the copy and again in the verification.
    const metadata = (r.status.bytesDone / BLOCK) * 32 * 2;
    const met = r.status.bytesCopied <= 1.05 * r.trueDifference + metadata;
    lines.push(`| ${(r.share * 100).toFixed(0)}% | ${mib(r.trueDifference)} MiB | ${mib(r.status.bytesDone)} MiB (${r.status.full ? 'full' : 'changed regions'}) | ${mib(r.status.bytesCopied)} MiB | ${(r.status.bytesCopied / r.trueDifference).toFixed(3)} | ${mib(metadata)} MiB | ${met ? 'yes' : 'NO'} | ${(r.copyMs / 1000).toFixed(1)} s | ${(r.totalMs / 1000).toFixed(1)} s |`);
  }
  const fastest = Math.max(...throughput.map((r) => r.copyRate));
  const within = throughput.filter((r) => r.ofAllowed <= 1.02);
  const reachable = throughput.filter((r) => r.rate <= fastest * 0.8);
  const close = reachable.filter((r) => r.ofAllowed >= 0.85);
  const copiedMet = differences.filter((r) => r.status.bytesCopied <= 1.05 * r.trueDifference + (r.status.bytesDone / BLOCK) * 64);
  lines.push('', '### Verdict', '',
    `- Copied against differing: goal met in ${copiedMet.length} of ${differences.length} runs (only the 4 KiB blocks whose SHA-256 differs are read from the primary; what is compared is the primary's change map since the takeover plus the regions the returning replica's own log wrote after the divergence point).`,
    `- Within the limit (copied ≤ limit × (copy time + 1 s), 2% measuring slack): ${within.length} of ${throughput.length} limits. Close to it (≥ 0.85 of allowed) for the limits this machine can reach (below 80% of the fastest copy seen, ${rateText(fastest)}): ${close.length} of ${reachable.length}.`,
    `- Above about ${rateText(fastest)} the copy is bound by this machine, not by the limit: the copy goes one batch at a time (up to 1 MiB of candidate regions compared with one RegionChecksums call, the local reads and hashing, the differing runs read with up to 8 ReadRegion calls in flight, then an fsync of the data and of the progress record), on ${availableParallelism()} CPUs shared with the three agents and the writers. When the differing blocks are scattered (the 10% and 50% rows), each run of differing blocks is still its own ReadRegion call, so the copy rate there stays below the full-copy rate.`,
    '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const began = Date.now();
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-bench-resync-'));
  const machine = `${availableParallelism()} CPUs (nproc; ${cpus()[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 1024 ** 3).toFixed(1)} GiB memory, Node ${process.version}`;
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  say(`resync bench: ${machine}; volume ${mib(VOLUME_BYTES)} MiB; folder ${baseDir}`);
  const throughput: RunResult[] = [];
  const differences: RunResult[] = [];
  try {
    for (const node of ['site-a', 'site-b', 'site-c']) await start(node);
    let index = 0;
    for (const rate of RATES) {
      const r = await oneRun(index++, 1, rate, true);
      throughput.push(r);
      say(`limit ${rateText(rate)}: copied ${mib(r.status.bytesCopied)} MiB in ${(r.copyMs / 1000).toFixed(2)} s = ${rateText(r.copyRate)}; paced ${rateText(r.pacedRate)}; ` +
        `most in 1 s ${mib(r.peakOneSecond)} MiB; ${r.ofAllowed.toFixed(2)} of allowed; identical ${r.identical}`);
    }
    for (const share of SHARES) {
      const r = await oneRun(index++, share, 1024 * MiB, false);
      differences.push(r);
      say(`${(share * 100).toFixed(0)}% changed (written in ${r.writeSeconds.toFixed(1)} s): true difference ${mib(r.trueDifference)} MiB, compared ${mib(r.status.bytesDone)} MiB, ` +
        `copied ${mib(r.status.bytesCopied)} MiB (${(r.status.bytesCopied / r.trueDifference).toFixed(3)}x), scope ${r.status.full ? 'full' : 'changed'}, copy ${(r.copyMs / 1000).toFixed(1)} s, to Finished ${(r.totalMs / 1000).toFixed(1)} s; identical ${r.identical}`);
    }
  } finally {
    await Promise.all([...agents.values()].map((a) => a.stop().catch(() => undefined)));
    if (!options.keep) await rm(baseDir, { recursive: true, force: true });
  }
  const section = render(throughput, differences, machine, date, (Date.now() - began) / 1000);
  say(`\n${section}`);
  if (!options['no-doc']) {
    await writeSectionTitled(docPath, SECTION_TITLE, section);
    say(`wrote the "${SECTION_TITLE}" section of ${docPath}`);
  }
  if (![...throughput, ...differences].every((r) => r.identical)) process.exitCode = 1;
}

await main();
