// The four workloads of the data-path benchmark and one bounded fio run through the nbd
// ioengine, reduced to the figures the report needs. Latency is fio's completion latency
// (clat: from submission to completion of each I/O), reported as its 50th and 99th percentile.
import { runCommand } from './proc.js';

export interface Workload {
  readonly id: 'randwrite-qd1' | 'randwrite-qd32' | 'seqwrite-qd8' | 'randread-qd32';
  readonly title: string;
  readonly rw: 'randwrite' | 'write' | 'randread';
  readonly blockSize: string;
  readonly iodepth: number;
  /** Bytes of the volume the workload touches (from offset 0). */
  readonly regionBytes: number;
  readonly direction: 'write' | 'read';
}

const MiB = 1024 * 1024;

export function workloads(volumeBytes: number, readRegionBytes: number): readonly Workload[] {
  return [
    { id: 'randwrite-qd1', title: '4 KiB random write, QD1', rw: 'randwrite', blockSize: '4k', iodepth: 1, regionBytes: volumeBytes, direction: 'write' },
    { id: 'randwrite-qd32', title: '4 KiB random write, QD32', rw: 'randwrite', blockSize: '4k', iodepth: 32, regionBytes: volumeBytes, direction: 'write' },
    { id: 'seqwrite-qd8', title: '1 MiB sequential write, QD8', rw: 'write', blockSize: '1M', iodepth: 8, regionBytes: volumeBytes, direction: 'write' },
    { id: 'randread-qd32', title: '4 KiB random read, QD32 (prefilled region)', rw: 'randread', blockSize: '4k', iodepth: 32, regionBytes: readRegionBytes, direction: 'read' },
  ];
}

export interface FioFigures {
  readonly iops: number;
  /** Decimal megabytes per second (10^6 bytes), as fio's MB/s. */
  readonly mbPerSecond: number;
  readonly clatP50Us: number;
  readonly clatP99Us: number;
  readonly ios: number;
  /** fio's own CPU, in cores (usr + sys over the run). */
  readonly fioCores: number;
}

export interface FioTiming {
  readonly runtimeSeconds: number;
  readonly rampSeconds: number;
}

/** Extra seconds past runtime + ramp before a fio run is killed. */
const KILL_MARGIN_MS = 30_000;

export function fioArgs(workload: Workload, uri: string, timing: FioTiming): string[] {
  return [
    `--name=${workload.id}`, '--ioengine=nbd', `--uri=${uri}`,
    `--rw=${workload.rw}`, `--bs=${workload.blockSize}`, `--iodepth=${workload.iodepth}`,
    `--size=${workload.regionBytes}`, '--time_based', `--runtime=${timing.runtimeSeconds}`, `--ramp_time=${timing.rampSeconds}`,
    '--randrepeat=0', '--norandommap', '--output-format=json',
  ];
}

export async function runFio(workload: Workload, uri: string, timing: FioTiming, cwd: string, onSpawn?: (pid: number) => void): Promise<{ figures: FioFigures; raw: unknown }> {
  const args = fioArgs(workload, uri, timing);
  const timeoutMs = (timing.runtimeSeconds + timing.rampSeconds) * 1000 + KILL_MARGIN_MS;
  const result = await runCommand('fio', args, { timeoutMs, cwd, ...(onSpawn === undefined ? {} : { onSpawn }) });
  if (result.timedOut) throw new Error(`fio ${workload.id} on ${uri} did not finish within ${timeoutMs} ms and was killed`);
  const start = result.stdout.indexOf('{');
  if (result.code !== 0 || start < 0) throw new Error(`fio ${workload.id} on ${uri} failed (code ${String(result.code)}): ${result.stderr.trim()} ${result.stdout.slice(0, 2000)}`);
  const raw: unknown = JSON.parse(result.stdout.slice(start));
  return { figures: figuresOf(raw, workload.direction, `${workload.id} on ${uri}`), raw };
}

/**
 * An unmeasured warm-up: 4 KiB random writes at queue depth 16 over the volume for `seconds`.
 * The agents run on V8, which compiles hot code to machine code only after it has run for a
 * while: measured straight after start, the first workload (QD1) saw 250-420 IOPS where the
 * same agents did 610-830 once warm. A server runs for days; the baselines (C) get the same
 * warm-up, so every target is measured in the same state.
 */
export async function warmUp(uri: string, volumeBytes: number, seconds: number, cwd: string): Promise<void> {
  const result = await runCommand('fio', [
    '--name=warm-up', '--ioengine=nbd', `--uri=${uri}`, '--rw=randwrite', '--bs=4k', '--iodepth=16', `--size=${volumeBytes}`,
    '--time_based', `--runtime=${seconds}`, '--randrepeat=0', '--norandommap', '--output-format=json',
  ], { timeoutMs: seconds * 1000 + KILL_MARGIN_MS, cwd });
  if (result.code !== 0) throw new Error(`warm-up of ${uri} failed (${result.timedOut ? 'timed out' : `code ${String(result.code)}`}): ${result.stderr.trim()}`);
}

/** Fills a region sequentially so reads hit written blocks (not holes). */
export async function prefill(uri: string, regionBytes: number, cwd: string): Promise<number> {
  const started = performance.now();
  const result = await runCommand('fio', [
    '--name=prefill', '--ioengine=nbd', `--uri=${uri}`, '--rw=write', '--bs=1M', '--iodepth=8', `--size=${regionBytes}`,
    '--output-format=json',
  ], { timeoutMs: 180_000, cwd });
  if (result.code !== 0) throw new Error(`prefill of ${uri} failed (${result.timedOut ? 'timed out' : `code ${String(result.code)}`}): ${result.stderr.trim()}`);
  return (performance.now() - started) / 1000;
}

function field(value: unknown, ...path: readonly string[]): unknown {
  let at = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null || !(key in at)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

function numberAt(value: unknown, what: string, ...path: readonly string[]): number {
  const found = field(value, ...path);
  if (typeof found !== 'number' || !Number.isFinite(found)) throw new Error(`fio report for ${what} has no number at ${path.join('.')}`);
  return found;
}

export function figuresOf(report: unknown, direction: 'write' | 'read', what: string): FioFigures {
  const jobs = field(report, 'jobs');
  if (!Array.isArray(jobs) || jobs.length !== 1) throw new Error(`fio report for ${what} does not hold exactly one job`);
  const job: unknown = jobs[0];
  const error = numberAt(job, what, 'error');
  if (error !== 0) throw new Error(`fio ${what} reported error ${error}`);
  const ios = numberAt(job, what, direction, 'total_ios');
  if (ios === 0) throw new Error(`fio ${what} completed no I/O`);
  return {
    iops: numberAt(job, what, direction, 'iops'),
    mbPerSecond: numberAt(job, what, direction, 'bw_bytes') / 1e6,
    clatP50Us: numberAt(job, what, direction, 'clat_ns', 'percentile', '50.000000') / 1000,
    clatP99Us: numberAt(job, what, direction, 'clat_ns', 'percentile', '99.000000') / 1000,
    ios,
    fioCores: (numberAt(job, what, 'usr_cpu') + numberAt(job, what, 'sys_cpu')) / 100,
  };
}

export const VOLUME_BYTES_DEFAULT = 1024 * MiB;
