// Turns one benchmark run into the "## Data path" section of docs/benchmarks.md, and swaps
// that section into the file without touching the others.
import { writeSectionTitled } from '../doc-sections.js';
import type { FioFigures, FioTiming, Workload } from './fio.js';
import type { Machine } from './machine.js';
import type { ProfileLine, ProfileSummary } from './profile.js';
import type { SyscallCounts } from './syscounts.js';
import type { TargetId } from './targets.js';

export interface Measurement {
  readonly target: TargetId;
  readonly workload: Workload['id'];
  readonly figures: FioFigures;
  /** Average cores used over the measured window (after fio's ramp), per server process. */
  readonly coresByProcess: Record<string, number>;
  readonly machineCores: number;
  readonly syscalls: Record<string, SyscallCounts> | null;
  readonly settle: Record<string, number>;
}

export interface BenchResult {
  readonly date: string;
  readonly quick: boolean;
  readonly timing: FioTiming;
  readonly volumeBytes: number;
  readonly logBytes: number;
  readonly readRegionBytes: number;
  readonly dir: string;
  readonly machine: Machine;
  readonly targets: readonly { readonly id: TargetId; readonly title: string }[];
  readonly workloads: readonly Workload[];
  readonly measurements: readonly Measurement[];
  readonly prefillSeconds: Partial<Record<TargetId, number>>;
  readonly profiles: readonly { readonly node: string; readonly role: string; readonly workload: Workload['id']; readonly summary: ProfileSummary }[];
  readonly durationSeconds: number;
  readonly command: string;
  readonly agentBuild: string;
  /** Seconds of unmeasured writes each target got before the first measurement (absent in older results). */
  readonly warmUpSeconds?: number;
}

export const SECTION_TITLE = '## Data path';

const MiB = 1024 * 1024;

const targetLabel: Record<TargetId, string> = {
  'nbdkit-plain': 'nbdkit plain',
  'nbdkit-durable': 'nbdkit durable',
  'agent-nbd-file': 'agent NBD server, plain file',
  bunker: '**Bunker**',
};

function fmt(value: number, digits?: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

const ratio = (a: number, b: number): number => (b === 0 ? Number.NaN : a / b);
const times = (value: number): string => (Number.isFinite(value) ? `${fmt(value, 2)}×` : 'n/a');

export function find(result: BenchResult, target: TargetId, workload: Workload['id']): Measurement | undefined {
  return result.measurements.find((m) => m.target === target && m.workload === workload);
}

function serverCores(m: Measurement): number {
  return Object.values(m.coresByProcess).reduce((a, b) => a + b, 0);
}

/** Cores used by neither the server nor fio: other work on the machine, kernel threads, softirq. */
export function restCores(m: Measurement): number {
  return Math.max(0, m.machineCores - serverCores(m) - m.figures.fioCores);
}

const short: Record<string, string> = { primary: 'p', bunker: 'b', secondary: 's' };

function cpuCell(m: Measurement): string {
  const total = fmt(serverCores(m), 2);
  const parts = Object.entries(m.coresByProcess);
  if (parts.length <= 1) return total;
  return `${total} (${parts.map(([name, cores]) => `${short[name] ?? name} ${fmt(cores, 2)}`).join(', ')})`;
}

function perIo(m: Measurement, pick: (c: SyscallCounts) => number, digits: number): string {
  if (m.syscalls === null) return 'n/a';
  const parts = Object.entries(m.syscalls);
  const of = (c: SyscallCounts): string => fmt(pick(c) / m.figures.ios, digits);
  if (parts.length === 1) return of(parts[0]?.[1] ?? { syncs: 0, syscalls: 0 });
  return parts.map(([name, c]) => `${short[name] ?? name} ${of(c)}`).join(', ');
}

export interface Goal {
  readonly what: string;
  readonly goal: string;
  readonly measured: number;
  readonly met: boolean;
  readonly floorMet?: boolean;
}

export function goals(result: BenchResult): Goal[] {
  const m = (t: TargetId, w: Workload['id']): FioFigures | undefined => find(result, t, w)?.figures;
  const list: Goal[] = [];
  const qd32 = m('bunker', 'randwrite-qd32');
  const qd32Durable = m('nbdkit-durable', 'randwrite-qd32');
  const qd32Plain = m('nbdkit-plain', 'randwrite-qd32');
  if (qd32 !== undefined && qd32Durable !== undefined) {
    const value = ratio(qd32.iops, qd32Durable.iops);
    list.push({ what: '4 KiB random write QD32, IOPS, Bunker ÷ nbdkit durable', goal: '≥ 2× (floor 1×)', measured: value, met: value >= 2, floorMet: value >= 1 });
  }
  if (qd32 !== undefined && qd32Plain !== undefined) {
    const value = ratio(qd32.iops, qd32Plain.iops);
    list.push({ what: '4 KiB random write QD32, IOPS, Bunker ÷ nbdkit plain', goal: '≥ 0.30×', measured: value, met: value >= 0.3 });
  }
  const qd1 = m('bunker', 'randwrite-qd1');
  const qd1Durable = m('nbdkit-durable', 'randwrite-qd1');
  if (qd1 !== undefined && qd1Durable !== undefined) {
    const value = ratio(qd1.clatP50Us, qd1Durable.clatP50Us);
    list.push({ what: '4 KiB random write QD1, p50 latency, Bunker ÷ nbdkit durable', goal: '≤ 1.5× (lower is better)', measured: value, met: value <= 1.5 });
  }
  const seq = m('bunker', 'seqwrite-qd8');
  const seqDurable = m('nbdkit-durable', 'seqwrite-qd8');
  if (seq !== undefined && seqDurable !== undefined) {
    const value = ratio(seq.mbPerSecond, seqDurable.mbPerSecond);
    list.push({ what: '1 MiB sequential write QD8, MB/s, Bunker ÷ nbdkit durable', goal: '≥ 0.8×', measured: value, met: value >= 0.8 });
  }
  const read = m('bunker', 'randread-qd32');
  const readPlain = m('nbdkit-plain', 'randread-qd32');
  if (read !== undefined && readPlain !== undefined) {
    const value = ratio(read.iops, readPlain.iops);
    list.push({ what: '4 KiB random read QD32, IOPS, Bunker ÷ nbdkit plain', goal: '≥ 0.5×', measured: value, met: value >= 0.5 });
  }
  return list;
}

function workloadTable(result: BenchResult, workload: Workload): string[] {
  const lines = [
    `### ${workload.title}`,
    '',
    '| target | IOPS (higher is better) | MB/s (higher is better) | p50 clat µs (lower is better) | p99 clat µs (lower is better) | server CPU, cores | fdatasync+fsync per I/O | syscalls per I/O | rest of machine, cores |',
    '| --- | ---: | ---: | ---: | ---: | --- | --- | --- | ---: |',
  ];
  for (const target of result.targets) {
    const m = find(result, target.id, workload.id);
    if (m === undefined) {
      lines.push(`| ${targetLabel[target.id]} | failed | | | | | | | |`);
      continue;
    }
    const f = m.figures;
    lines.push(`| ${targetLabel[target.id]} | ${fmt(f.iops, 0)} | ${fmt(f.mbPerSecond, 1)} | ${fmt(f.clatP50Us, 0)} | ${fmt(f.clatP99Us, 0)} | ${cpuCell(m)} | ${perIo(m, (c) => c.syncs, 3)} | ${perIo(m, (c) => c.syscalls, 1)} | ${fmt(restCores(m), 2)} |`);
  }
  const bunker = find(result, 'bunker', workload.id)?.figures;
  for (const base of ['nbdkit-durable', 'nbdkit-plain'] as const) {
    const b = find(result, base, workload.id)?.figures;
    if (bunker === undefined || b === undefined) continue;
    lines.push(`| *Bunker ÷ ${targetLabel[base]}* | ${times(ratio(bunker.iops, b.iops))} | ${times(ratio(bunker.mbPerSecond, b.mbPerSecond))} | ${times(ratio(bunker.clatP50Us, b.clatP50Us))} | ${times(ratio(bunker.clatP99Us, b.clatP99Us))} | | | | |`);
  }
  const settle = find(result, 'bunker', workload.id)?.settle;
  if (settle !== undefined && workload.direction === 'write') {
    const catchUp = settle.secondaryCatchUpSeconds ?? Number.NaN;
    lines.push('', `Bunker at the end of the run: secondary ${fmt(settle.secondaryLagEntriesAtEnd ?? Number.NaN, 0)} entries behind, caught up ${Number.isFinite(catchUp) ? `${fmt(catchUp, 1)} s later` : 'not within 60 s'}; primary log ${fmt(settle.primaryLogUsedMiBAtEnd ?? Number.NaN, 0)} MiB used of ${fmt(result.logBytes / MiB, 0)}${settle.trackingChanges === 1 ? '; **the log was full and the primary was tracking changes in the change map**' : ''}.`);
  }
  lines.push('');
  return lines;
}

/** Natives (fs and socket bindings into C++; socket writes run there on the main thread) have no script. */
function whereCell(line: ProfileLine): string {
  if (line.where !== '') return `\`${line.where}\``;
  return line.name.startsWith('(') ? 'V8' : 'native binding';
}

function profileLines(result: BenchResult): string[] {
  if (result.profiles.length === 0) return ['No CPU profile was taken in this run (`--no-profile`, or the profiler failed).', ''];
  const title = (id: Workload['id']): string => result.workloads.find((w) => w.id === id)?.title ?? id;
  const lines: string[] = [
    'Each agent was profiled (V8 sampling profiler, 1 ms interval) over each Bunker measurement window. Self time: time in the function itself, not its callees; shares are of the samples in which the process was busy. "Native binding" rows are calls into Node\'s C++ (socket writes run there synchronously; fs calls only queue work for the thread pool); the sampler counts wall time, so on a loaded machine their share also holds time the thread waited for a CPU.',
    '',
  ];
  const headline: Workload['id'] = 'randwrite-qd32';
  for (const { node, role, workload, summary } of result.profiles) {
    if (workload !== headline) continue;
    const count = role === 'primary' ? 15 : 8;
    lines.push(
      `**${role}** (${node}) during ${title(workload)}: ${fmt(summary.busySeconds, 1)} s on CPU in ${fmt(summary.wallSeconds, 1)} s (${fmt(summary.busySeconds / summary.wallSeconds * 100, 0)}% of one core, profiler's view).`,
      '',
      '| function | where | self ms | share of busy |',
      '| --- | --- | ---: | ---: |',
      ...summary.top.slice(0, count).map((f) => `| \`${f.name}\` | ${whereCell(f)} | ${fmt(f.selfMs, 0)} | ${fmt(f.share * 100, 1)}% |`),
      '',
      `By module: ${summary.modules.slice(0, 10).map((m) => `${m.name} ${fmt(m.share * 100, 1)}%`).join(', ')}.`,
      '',
    );
  }
  const others = result.profiles.filter((p) => p.workload !== headline && p.role === 'primary');
  if (others.length > 0) {
    lines.push('Primary, other workloads (top five by self time):', '');
    for (const { workload, summary } of others) {
      lines.push(`- ${title(workload)} (${fmt(summary.busySeconds / summary.wallSeconds * 100, 0)}% of a core): ${summary.top.slice(0, 5).map((f) => `\`${f.name}\` ${fmt(f.share * 100, 1)}%`).join(', ')}; modules: ${summary.modules.slice(0, 4).map((m) => `${m.name} ${fmt(m.share * 100, 0)}%`).join(', ')}.`);
    }
    lines.push('');
  }
  return lines;
}

export function renderSection(result: BenchResult, analysis: string): string {
  const { machine } = result;
  const disturbed = result.measurements.filter((m) => restCores(m) > 0.3);
  const goalList = goals(result);
  const lines = [
    SECTION_TITLE,
    '',
    `Generated by \`${result.command}\` (bench/datapath/run.ts) on ${result.date}; the run took ${fmt(result.durationSeconds, 0)} s${result.quick ? ' (`--quick`: short runs, rougher figures)' : ''}. Rerunning it rewrites this section.`,
    '',
    '**Machine.** ' + [
      `${machine.cpus} CPUs (${machine.cpuModel})`,
      `${fmt(machine.memoryGiB, 1)} GiB memory`,
      `disk ${machine.disk}`,
      `kernel ${machine.kernel}`,
      `Node ${machine.node}`,
      machine.fio,
      machine.nbdkit,
      `load average at start ${machine.loadAverage.map((l) => fmt(l, 2)).join(' / ')}`,
    ].join('; ') + '.',
    '',
    '**Method.** ' + [
      `Every target serves a ${fmt(result.volumeBytes / MiB, 0)} MiB volume from files in one temporary folder on that disk, over NBD on loopback.`,
      `*Bunker*: three real agents (\`agent/dist/bin/bunker-agent.js\`; ${result.agentBuild}) — primary, bunker and secondary — with one volume in \`recovery: sync\` + \`secondary: async\`, ${fmt(result.logBytes / MiB, 0)} MiB change log, placed over gRPC as the operator does; fio writes to the primary's export, and a write is acknowledged once durable in the primary's log and the bunker's log copy and applied to the primary's data file.`,
      '*nbdkit plain*: `nbdkit file FILE` (writes land in the page cache; not durable). *nbdkit durable*: `nbdkit --filter=fua file FILE fuamode=force` (every write made durable before its reply: Bunker\'s promise minus replication). Both on one sparse file of the same size in the same folder.',
      '*agent NBD server, plain file*: a diagnostic, not a goal: the agent\'s own NBD server (agent/dist/nbd) on that file with no log and no replication, to separate the cost of the NBD front end in Node from the cost of the write path behind it.',
      `fio ${machine.fio.replace(/^fio-/, '')} with \`--ioengine=nbd\` (libnbd, one connection), \`--time_based --runtime=${result.timing.runtimeSeconds} --ramp_time=${result.timing.rampSeconds} --randrepeat=0 --norandommap\`; random and sequential writes over the whole volume, random reads over the first ${fmt(result.readRegionBytes / MiB, 0)} MiB after a sequential prefill of it through the same target.`,
      result.warmUpSeconds === undefined ? '' : `Before the first measurement every target gets ${result.warmUpSeconds} s of unmeasured 4 KiB random writes at queue depth 16 (the agents run on V8, which compiles hot code only after it has run a while; measured straight after start, the first workload ran at half the rate of the same agents warm).`,
      'Workloads run in the order listed below, each against every target in turn; `sync` runs between measurements, and after each Bunker write run the benchmark waits until the secondary has applied everything, so one run\'s backlog does not load the next.',
      '**Latency is fio\'s completion latency (`clat`: from submission of an I/O to its completion), 50th and 99th percentile, in µs.** MB/s is decimal (10⁶ bytes/s).',
      'CPU columns are average cores used during the measured window (after the ramp), from /proc: the server processes (Bunker: p = primary, b = bunker, s = secondary agent), and "rest of machine" = everything except the server and fio (other work on the machine, kernel writeback, softirq). fdatasync+fsync and syscalls per I/O are counted with `perf stat` on syscall tracepoints for each server process over the same window and divided by the I/Os fio completed.',
      result.profiles.length > 0 ? 'The CPU profiles below come from one more Bunker run of each workload after the measured ones, with the agents\' sampling profiler on (bench/datapath/cpu-profiler.mjs); no figure in the tables comes from a profiled run, so the profiler\'s own cost never enters them (its figures are in the run\'s log; in the runs of 2026-11-25 they fell within the spread of unprofiled runs).' : '',
    ].filter((s) => s !== '').join(' '),
    '',
    `**Load.** The machine is shared with other work (parallel test runs); figures from a loaded machine are pessimistic, for Bunker most of all (four processes on ${machine.cpus} CPUs). ${disturbed.length === 0
      ? 'In this run no measurement saw more than 0.3 cores used outside the server and fio.'
      : `In this run ${disturbed.length} of ${result.measurements.length} measurements saw more than 0.3 cores used outside the server and fio ("rest of machine" column: other work, and also the kernel's own writeback for the durable baseline); where that was other work, read the row as a lower bound.`}`,
    '',
    '### Goals (issue 6)',
    '',
    '| goal | target | measured | status |',
    '| --- | --- | ---: | --- |',
    ...goalList.map((g) => `| ${g.what} | ${g.goal} | ${times(g.measured)} | ${g.met ? '**met**' : g.floorMet === true ? '**not met** (floor 1× met)' : '**not met**'} |`),
    '',
    ...result.workloads.flatMap((w) => workloadTable(result, w)),
    '### Profile',
    '',
    ...profileLines(result),
    '### Analysis',
    '',
    analysis.trim(),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

export async function writeSection(docPath: string, section: string): Promise<void> {
  await writeSectionTitled(docPath, SECTION_TITLE, section);
}
