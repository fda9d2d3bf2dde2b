// Change log benchmark: append throughput and latency of 4 KiB entries at 1 and 32
// concurrent appenders, against the physical limit measured in the same run and directory
// (a raw loop of one write + one fdatasync, at batch size 1 and at the batch size the log
// reached with 32 appenders). Also CRC32C: native @node-rs/crc32 against a pure TS table.
// Writes the table into docs/benchmarks.md, section "## Change log" (other sections kept).
//
// Method: every run keeps its file open and is measured in short slices taken in turn
// (raw 1, log 1, log 32, raw B, ...), so each run and its physical limit see the same disk
// and the same neighbours even when the machine is shared; slices add up to the totals.
// 32 appenders are measured twice: with the default batch limits (a batch takes every
// append that waits) and with batchEntriesMax 16 (two batches in the pipeline).
// The log runs as the primary uses it: entries are marked applied and trimmed as appends
// flow, so the log wraps and its superblock is written as in production.
// Run: bench/log/run.sh [--seconds 8] [--slices 16] [--dir DIR] [--no-doc]
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { writeSectionTitled } from '../doc-sections.js';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { epoch, seq } from '@bunker/proto/ids';
import { ChangeLog, type ChangeLogStats } from '../../agent/src/log/change-log.js';
import { crc32c } from '../../agent/src/log/crc32c.js';
import { FileStorage } from '../../agent/src/log/file-storage.js';
import { makeEntry, TEST_VOLUME_UID } from '../../agent/src/log/testing/log-fixtures.js';
import { crc32cTable } from './crc32c-table.js';

const ENTRY_BYTES = 4096;
const FILE_BYTES = 64 * 1024 * 1024;
const LATENCY_SAMPLES_MAX = 1_000_000;
const PIPELINED_BATCH_ENTRIES = 16;
const DOC = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

interface Args {
  readonly seconds: number;
  readonly slices: number;
  readonly dir: string;
  readonly writeDoc: boolean;
}

interface Result {
  readonly label: string;
  readonly entriesPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly entriesPerDatasync: number;
}

/** A measured run: `run` adds a slice of `ms` to its totals. */
interface Runner {
  run(ms: number, record: boolean): Promise<void>;
  /** Forgets what was recorded so far (after a warm-up). */
  reset(): void;
  result(): Result;
  close(): Promise<void>;
}

function parseArgs(argv: readonly string[]): Args {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  return {
    seconds: Number(value('--seconds') ?? 8),
    slices: Number(value('--slices') ?? 16),
    dir: value('--dir') ?? tmpdir(),
    writeDoc: !argv.includes('--no-doc'),
  };
}

/** Latencies in a fixed-size buffer: the first LATENCY_SAMPLES_MAX are kept. */
class Latencies {
  private readonly samples = new Float64Array(LATENCY_SAMPLES_MAX);
  private count = 0;

  add(ms: number): void {
    if (this.count < this.samples.length) this.samples[this.count++] = ms;
  }

  reset(): void {
    this.count = 0;
  }

  percentile(fraction: number): number {
    const sorted = this.samples.slice(0, this.count).sort();
    return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? Number.NaN;
  }
}

const nowMs = (): number => performance.now();
const mb = (bytes: number): number => bytes / 1e6;

/** Closed-loop appenders of 4 KiB entries; entries are marked applied and trimmed behind them. */
async function logRunner(dir: string, label: string, appenders: number, batchEntriesMax?: number): Promise<Runner> {
  const path = join(dir, `log-${appenders}-${batchEntriesMax ?? 'default'}.log`);
  const log = await ChangeLog.create(await FileStorage.create(path, FILE_BYTES), {
    volumeUid: TEST_VOLUME_UID, fillPolicy: { kind: 'block', waitMs: 10_000 }, sizeBytes: FILE_BYTES,
    ...(batchEntriesMax === undefined ? {} : { batchEntriesMax }),
  });
  // Payloads built once: the benchmark measures the log, not the payload generator.
  const payloads = Array.from({ length: 64 }, (_, index) => makeEntry(index + 1, 1, ENTRY_BYTES).payload);
  const latencies = new Latencies();
  let next = 1;
  let trimming = false;
  let appended = 0;
  let elapsedMs = 0;
  let stats: { entries: number; datasyncs: number } = { entries: 0, datasyncs: 0 };
  const appender = async (deadline: number, record: boolean): Promise<void> => {
    while (nowMs() < deadline) {
      const entrySeq = next++;
      const started = nowMs();
      const payload = payloads[entrySeq % payloads.length] ?? new Uint8Array(ENTRY_BYTES);
      await log.append([{ epoch: epoch(1), seq: seq(entrySeq), offset: (entrySeq % 65536) * ENTRY_BYTES, length: ENTRY_BYTES, kind: 'write', payload }]);
      if (record) {
        latencies.add(nowMs() - started);
        appended += 1;
      }
      log.markApplied(log.durableSeq);
      if (!trimming && log.usedBytes > FILE_BYTES / 2) {
        trimming = true;
        void log.trimBelow(seq(Math.max(1, log.durableSeq - 1024))).finally(() => { trimming = false; });
      }
    }
  };
  const delta = (before: ChangeLogStats, after: ChangeLogStats): void => {
    stats = { entries: stats.entries + after.entries - before.entries, datasyncs: stats.datasyncs + after.datasyncs - before.datasyncs };
  };
  return {
    async run(ms, record) {
      const before = log.stats;
      const started = nowMs();
      await Promise.all(Array.from({ length: appenders }, () => appender(started + ms, record)));
      if (record) {
        elapsedMs += nowMs() - started;
        delta(before, log.stats);
      }
    },
    reset() {
      latencies.reset();
      appended = 0;
      elapsedMs = 0;
      stats = { entries: 0, datasyncs: 0 };
    },
    result: () => ({
      label, entriesPerSecond: appended / (elapsedMs / 1000), megabytesPerSecond: mb(appended * ENTRY_BYTES) / (elapsedMs / 1000),
      p50Ms: latencies.percentile(0.5), p99Ms: latencies.percentile(0.99), entriesPerDatasync: stats.entries / stats.datasyncs,
    }),
    close: () => log.close(),
  };
}

/** The physical limit: one write of `batch` 4 KiB blocks at the next position, then fdatasync. */
async function rawRunner(dir: string, batch: number): Promise<Runner> {
  const path = join(dir, `raw-${batch}.dat`);
  await (await FileStorage.create(path, FILE_BYTES)).close();
  const handle: FileHandle = await open(path, 'r+');
  const buffer = new Uint8Array(batch * ENTRY_BYTES).fill(0xa5);
  const latencies = new Latencies();
  let position = 0;
  let syncs = 0;
  let elapsedMs = 0;
  return {
    async run(ms, record) {
      const started = nowMs();
      while (nowMs() < started + ms) {
        const began = nowMs();
        if (position + buffer.length > FILE_BYTES) position = 0;
        await handle.write(buffer, 0, buffer.length, position);
        await handle.datasync();
        position += buffer.length;
        if (record) {
          latencies.add(nowMs() - began);
          syncs += 1;
        }
      }
      if (record) elapsedMs += nowMs() - started;
    },
    reset() {
      latencies.reset();
      syncs = 0;
      elapsedMs = 0;
    },
    result: () => ({
      label: `raw write + fdatasync, ${batch} × 4 KiB`, entriesPerSecond: (syncs * batch) / (elapsedMs / 1000),
      megabytesPerSecond: mb(syncs * buffer.length) / (elapsedMs / 1000), p50Ms: latencies.percentile(0.5),
      p99Ms: latencies.percentile(0.99), entriesPerDatasync: batch,
    }),
    close: () => handle.close(),
  };
}

interface Measured {
  readonly raw1: Result;
  readonly log1: Result;
  readonly log32: Result;
  readonly raw32: Result;
  /** The raw loop at 32 × 4 KiB, whatever batch size the default log reached. */
  readonly rawFull: Result;
  readonly pipelined: Result;
  readonly rawPipelined: Result;
}

/** Warms each log up to learn its batch size, then measures everything in interleaved slices. */
async function measure(args: Args): Promise<Measured> {
  const log32 = await logRunner(args.dir, 'change log, 32 appenders (default batch limits)', 32);
  const pipelined = await logRunner(args.dir, `change log, 32 appenders, batchEntriesMax ${PIPELINED_BATCH_ENTRIES}`, 32, PIPELINED_BATCH_ENTRIES);
  await log32.run(1000, true);
  await pipelined.run(1000, true);
  const batchOf = (runner: Runner): number => Math.max(1, Math.round(runner.result().entriesPerDatasync));
  // One raw runner per batch size: the default log may reach the same batch size as the other.
  const raws = new Map<number, Runner>();
  const raw = async (batch: number): Promise<Runner> => {
    const existing = raws.get(batch);
    if (existing !== undefined) return existing;
    const runner = await rawRunner(args.dir, batch);
    raws.set(batch, runner);
    return runner;
  };
  const runners = {
    raw1: await raw(1), log1: await logRunner(args.dir, 'change log, 1 appender', 1),
    log32, raw32: await raw(batchOf(log32)), rawFull: await raw(32),
    pipelined, rawPipelined: await raw(batchOf(pipelined)),
  };
  const distinct = [...new Set(Object.values(runners))];
  for (const runner of distinct) {
    runner.reset();
    await runner.run(300, false);
  }
  const sliceMs = (args.seconds * 1000) / args.slices;
  for (let slice = 0; slice < args.slices; slice += 1) {
    for (const runner of distinct) await runner.run(sliceMs, true);
  }
  const results: Measured = {
    raw1: runners.raw1.result(), log1: runners.log1.result(), log32: runners.log32.result(), raw32: runners.raw32.result(),
    rawFull: runners.rawFull.result(), pipelined: runners.pipelined.result(), rawPipelined: runners.rawPipelined.result(),
  };
  for (const runner of distinct) await runner.close();
  return results;
}

/** MB/s of a CRC function over 4 KiB buffers, for about `ms`. */
function crcSpeed(fn: (data: Uint8Array) => number, ms: number): number {
  const data = makeEntry(1, 1, ENTRY_BYTES).payload;
  let bytes = 0;
  const started = nowMs();
  while (nowMs() - started < ms) {
    for (let index = 0; index < 64; index += 1) fn(data);
    bytes += 64 * data.length;
  }
  return mb(bytes) / ((nowMs() - started) / 1000);
}

function machine(dir: string, loadAtStart: readonly number[]): string {
  const cpu = cpus();
  let fileSystem = 'unknown';
  try {
    fileSystem = execFileSync('df', ['-T', dir], { encoding: 'utf8' }).trim().split('\n').at(-1)?.split(/\s+/).slice(0, 2).join(' ') ?? fileSystem;
  } catch {
    // df is informational only.
  }
  const load = (values: readonly number[]): string => values.map((value) => value.toFixed(2)).join(' ');
  return `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}, Node ${process.version}; ` +
    `files in ${dir} on ${fileSystem}; load average (1, 5, 15 min) at the start ${load(loadAtStart)}, at the end ${load(loadavg())} ` +
    '(a shared machine: other work ran during the measurement)';
}

const row = (result: Result): string =>
  `| ${result.label} | ${Math.round(result.entriesPerSecond)} | ${result.megabytesPerSecond.toFixed(1)} | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${result.entriesPerDatasync.toFixed(1)} |`;

const verdict = (log: Result, raw: Result): string => {
  const ratio = log.megabytesPerSecond / raw.megabytesPerSecond;
  return `${log.entriesPerDatasync.toFixed(1)} entries per fdatasync (goal ≥ 8: ${log.entriesPerDatasync >= 8 ? 'met' : 'not met'}), ` +
    `${(ratio * 100).toFixed(0)}% of the raw loop's bytes/s at batch size ${raw.entriesPerDatasync} (goal ≥ 80%: ${ratio >= 0.8 ? 'met' : 'not met'})`;
};

function section(args: Args, measured: Measured, crc: { native: number; table: number }, loadAtStart: readonly number[]): string {
  const { raw1, log1, log32, raw32, rawFull, pipelined, rawPipelined } = measured;
  // Raw loops of the same batch size are one runner: one row each.
  const rows = [...new Map([raw1, log1, log32, raw32, rawFull, pipelined, rawPipelined].map((result) => [result.label, result])).values()];
  return [
    '## Change log',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`bench/log/run.sh --seconds ${args.seconds} --slices ${args.slices}\`: ` +
      `each run measured for ${args.seconds} s in ${args.slices} slices taken in turn with the others.`,
    `Machine: ${machine(args.dir, loadAtStart)}.`,
    '',
    'Entries carry a 4 KiB payload; MB/s counts payload bytes (10^6 bytes); latency is from `append` to its resolution ' +
      '(for the raw loop: one write + fdatasync). Appenders are closed loops: each appends again when its append resolved.',
    '',
    '| run | entries/s | MB/s | p50 ms | p99 ms | entries per fdatasync |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(row),
    '',
    `- 32 appenders, default batch limits: ${verdict(log32, raw32)}; ` +
      `${((log32.megabytesPerSecond / rawFull.megabytesPerSecond) * 100).toFixed(0)}% of the raw loop at batch size 32.`,
    `- 32 appenders, batchEntriesMax ${PIPELINED_BATCH_ENTRIES}: ${verdict(pipelined, rawPipelined)}.`,
    `- 1 appender: ${((log1.megabytesPerSecond / raw1.megabytesPerSecond) * 100).toFixed(0)}% of the raw loop at batch size 1.`,
    `- CRC32C over 4 KiB buffers: native @node-rs/crc32 ${Math.round(crc.native)} MB/s, pure TypeScript table ${Math.round(crc.table)} MB/s ` +
      `(${(crc.native / crc.table).toFixed(0)}× faster).`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const loadAtStart = loadavg();
  const sample = makeEntry(1, 1, ENTRY_BYTES).payload;
  if (crc32c(sample) !== crc32cTable(sample)) throw new Error('the table CRC32C disagrees with the native one');
  const dir = await mkdtemp(join(args.dir, 'bunker-log-bench-'));
  try {
    const measured = await measure({ ...args, dir });
    const crc = { native: crcSpeed((data) => crc32c(data), 500), table: crcSpeed((data) => crc32cTable(data), 500) };
    const text = section(args, measured, crc, loadAtStart);
    console.log(text);
    if (args.writeDoc) await writeSectionTitled(DOC, '## Change log', text);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
