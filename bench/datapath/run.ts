// Data-path benchmark (issue 6, "bench/"): fio through the nbd ioengine against Bunker (three
// agents, recovery: sync + secondary: async) and, in the same run on a file in the same
// folder, against `nbdkit file` (page cache) and `nbdkit --filter=fua file … fuamode=force`
// (every write durable), plus the agent's NBD server alone on that file as a diagnostic.
// Writes the "## Data path" section of docs/benchmarks.md.
//
//   npm run bench:datapath                  # full: 15 s per measurement, about 6 minutes
//   npm run bench:datapath -- --quick       # 5 s + 1 s ramp per measurement, no diagnostic
//                                           # target, 64 MiB read region: about 2 minutes
//   options: --no-profile  --no-doc  --keep (keep the temp folder)  --dir DIR (where the temp
//            folder goes; default the OS temp dir)  --json FILE (save the result)  --runtime S
//            --ramp S  --doc FILE  --from-json FILE (only re-render the section from a saved result)
//
// Needs the built agent (`npx tsc -b`), fio and nbdkit. Every process it starts is stopped in a
// finally block (and, if the benchmark itself is killed, by the test harness's watchdogs and
// nbdkit's --exit-with-parent).
import { rmSync } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../../test/support/control-plane.js';
import { prefill, runFio, warmUp, workloads, type FioTiming, type Workload } from './fio.js';
import { describeMachine } from './machine.js';
import { CpuMeter, registerCleanup, runCleanups, runOk } from './proc.js';
import { summariseProfile } from './profile.js';
import { renderSection, restCores, writeSection, goals, type BenchResult, type Measurement } from './report.js';
import { perfAvailable, startCounting, type SyscallCounts } from './syscounts.js';
import { createSparseFile, startAgentFileExport, startBunker, startNbdkit, type BunkerTarget, type Target, type TargetId } from './targets.js';

const MiB = 1024 * 1024;

const { values: options } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    'no-doc': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    dir: { type: 'string' },
    json: { type: 'string' },
    doc: { type: 'string' },
    runtime: { type: 'string' },
    ramp: { type: 'string' },
    'from-json': { type: 'string' },
  },
  strict: true,
});

const timing: FioTiming = {
  runtimeSeconds: Number(options.runtime ?? (options.quick ? 5 : 15)),
  rampSeconds: Number(options.ramp ?? (options.quick ? 1 : 2)),
};
/** Unmeasured writes to each target before the first measurement (see warmUp in fio.ts). */
const WARM_UP_SECONDS = options.quick ? 8 : 15;
const VOLUME_BYTES = 1024 * MiB;
const LOG_BYTES = 256 * MiB;
const READ_REGION_BYTES = (options.quick ? 64 : 256) * MiB;
/** The agent's NBD server alone on the baseline file: a diagnostic, left out of --quick runs. */
const withDiagnostic = !options.quick;
const docPath = options.doc ?? join(repoRoot, 'docs/benchmarks.md');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const startedAt = performance.now();
const say = (text: string): void => { process.stdout.write(`[${((performance.now() - startedAt) / 1000).toFixed(0).padStart(3)} s] ${text}\n`); };

/**
 * One fio run on `target` with its CPU and (when `countSyscalls`) its syscalls counted over the
 * measured window; with `profile`, the agents' CPU profiler runs over that window too (only
 * for the extra profiled runs: the profiler slows the agents, so it never runs in a run whose
 * figures go into the tables).
 */
async function measure(target: Target, workload: Workload, root: string, countSyscalls: boolean, profile = false): Promise<Measurement> {
  const meter = new CpuMeter(target.pids);
  const counting: { name: string; stop: () => Promise<SyscallCounts | null> }[] = [];
  const fio = runFio(workload, target.uri, timing, root);
  // The measured window starts when fio's ramp ends and ends when fio exits.
  const windowOpened = (async () => {
    await sleep(timing.rampSeconds * 1000);
    await meter.start();
    if (profile) target.window?.open();
    if (countSyscalls) {
      for (const [name, pid] of target.pids) counting.push({ name, ...startCounting(pid, join(root, `perf-${name}.txt`)) });
    }
  })();
  let cpu: Awaited<ReturnType<CpuMeter['stop']>>;
  let counts: (readonly [string, SyscallCounts | null])[];
  let outcome: Awaited<typeof fio>;
  try {
    outcome = await fio;
  } finally {
    await windowOpened;
    cpu = await meter.stop();
    counts = await Promise.all(counting.map(async (c) => [c.name, await c.stop()] as const));
    if (profile) await target.window?.close(workload.id).catch((error: unknown) => say(`profile of ${workload.id}: ${String(error)}`));
  }
  await writeFile(join(root, 'fio', `${workload.id}--${target.id}${profile ? '--profiled' : ''}.json`), JSON.stringify(outcome.raw, null, 1));
  const syscalls = counts.length > 0 && counts.every(([, c]) => c !== null)
    ? Object.fromEntries(counts.map(([name, c]) => [name, c ?? { syncs: 0, syscalls: 0 }]))
    : null;
  const settle = await target.settle();
  return {
    target: target.id, workload: workload.id, figures: outcome.figures,
    coresByProcess: cpu.byName, machineCores: cpu.machineCores, syscalls, settle,
  };
}

async function summariseProfiles(profileDir: string, list: readonly Workload[]): Promise<BenchResult['profiles']> {
  const files = await readdir(profileDir).catch(() => [] as string[]);
  const roles: Record<string, string> = { 'site-a': 'primary', 'site-b': 'bunker', 'site-c': 'secondary' };
  const profiles: BenchResult['profiles'][number][] = [];
  for (const workload of list) {
    for (const node of ['site-a', 'site-b', 'site-c']) {
      const file = `${node}--${workload.id}.cpuprofile`;
      if (!files.includes(file)) continue;
      try {
        profiles.push({ node, role: roles[node] ?? node, workload: workload.id, summary: await summariseProfile(join(profileDir, file), repoRoot) });
      } catch (error) {
        say(`profile ${file} unreadable: ${String(error)}`);
      }
    }
  }
  return profiles;
}

type RunResult = BenchResult & { readonly failures: readonly string[]; readonly rssMiB: Record<string, number> };

/** Writes the section: the tables from the result, then run notes and analysis.md. */
async function writeDoc(result: RunResult): Promise<void> {
  const analysis = await readFile(new URL('./analysis.md', import.meta.url), 'utf8').catch(() => '(no analysis written yet: bench/datapath/analysis.md)');
  const { failures, rssMiB, prefillSeconds } = result;
  const notes = [
    failures.length > 0 ? `**Failures in this run:** ${failures.map((f) => `\`${f.replaceAll('|', '/').replaceAll('\n', ' ').slice(0, 300)}\``).join('; ')}.` : '',
    Object.keys(rssMiB).length > 0 ? `Agent peak resident memory: ${Object.entries(rssMiB).map(([n, v]) => `${n} ${v.toFixed(0)} MiB`).join(', ')}. Prefill of the read region: nbdkit ${(prefillSeconds['nbdkit-plain'] ?? Number.NaN).toFixed(1)} s, Bunker ${(prefillSeconds.bunker ?? Number.NaN).toFixed(1)} s.` : '',
  ].filter((s) => s !== '').join('\n\n');
  await writeSection(docPath, renderSection(result, `${notes === '' ? '' : `${notes}\n\n`}${analysis}`));
  say(`wrote the "## Data path" section of ${docPath}`);
}

/** Which agent was measured: the build's time, the commit, and whether agent/src had local changes. */
async function describeAgentBuild(): Promise<string> {
  // The newest compiled file: a rebuild rewrites only the files whose source changed.
  const files = await readdir(join(repoRoot, 'agent/dist'), { recursive: true }).catch(() => [] as string[]);
  let newest = 0;
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    newest = Math.max(newest, await stat(join(repoRoot, 'agent/dist', file)).then((s) => s.mtimeMs, () => 0));
  }
  const built = newest === 0 ? 'unknown' : new Date(newest).toISOString().replace(/\.\d+Z$/, 'Z');
  const commit = (await runOk('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']).catch(() => 'unknown')).trim();
  const dirty = (await runOk('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'agent/src', 'proto']).catch(() => '')).trim() !== '';
  return `agent/dist built ${built} from commit ${commit}${dirty ? ' plus uncommitted changes in agent/src or proto' : ''}`;
}

/** The run's temporary folder: removed at the end, also after a failure, unless --keep. */
let tempRoot: string | undefined;

async function main(): Promise<void> {
  if (options['from-json'] !== undefined) {
    // Re-render the section from a saved result (--json FILE of an earlier run), e.g. after editing analysis.md.
    const result = JSON.parse(await readFile(options['from-json'], 'utf8')) as RunResult;
    await writeDoc(result);
    return;
  }
  const began = performance.now();
  await access(join(repoRoot, 'agent/dist/bin/bunker-agent.js')).catch(() => {
    throw new Error('agent/dist/bin/bunker-agent.js is missing: build it first with `npx tsc -b`');
  });
  const parent = options.dir ?? tmpdir();
  await mkdir(parent, { recursive: true });
  const root = await mkdtemp(join(parent, 'bunker-bench-datapath-'));
  tempRoot = root;
  await mkdir(join(root, 'fio'));
  const profileDir = options['no-profile'] ? null : join(root, 'profiles');
  if (profileDir !== null) await mkdir(profileDir);
  say(`data-path benchmark in ${root} (${options.quick ? 'quick' : 'full'}: ${timing.runtimeSeconds} s + ${timing.rampSeconds} s ramp per measurement)`);

  const machine = await describeMachine(root);
  const agentBuild = await describeAgentBuild();
  const countSyscalls = await perfAvailable();
  if (!countSyscalls) say('perf cannot count syscall tracepoints here: syscall columns will be n/a');
  const list = workloads(VOLUME_BYTES, READ_REGION_BYTES);
  const started: Target[] = [];
  const measurements: Measurement[] = [];
  const failures: string[] = [];
  const prefillSeconds: Partial<Record<TargetId, number>> = {};
  const rssMiB: Record<string, number> = {};
  let bunker: BunkerTarget | undefined;
  try {
    const baseline = join(root, 'baseline.img');
    await createSparseFile(baseline, VOLUME_BYTES);
    // The baselines start while the agents do (the agents one after another: see startBunker).
    const track = async <T extends Target | null>(starting: Promise<T>): Promise<T> => {
      const target = await starting;
      if (target !== null) started.push(target);
      return target;
    };
    const plainStarting = track(startNbdkit({ id: 'nbdkit-plain', file: baseline, logPath: join(root, 'nbdkit-plain.log') }));
    const durableStarting = track(startNbdkit({ id: 'nbdkit-durable', file: baseline, logPath: join(root, 'nbdkit-durable.log') }));
    const diagnosticStarting = track(withDiagnostic ? startAgentFileExport({ file: baseline, sizeBytes: VOLUME_BYTES, logPath: join(root, 'agent-nbd-file.log') }) : Promise.resolve(null));
    // Whatever happens, every start has settled (and been tracked for stopping) before we go on.
    const allSettled = Promise.allSettled([plainStarting, durableStarting, diagnosticStarting]);
    try {
      bunker = await startBunker({ baseDir: join(root, 'agents'), volumeBytes: VOLUME_BYTES, logBytes: LOG_BYTES, profileDir });
      started.push(bunker);
    } finally {
      await allSettled;
    }
    const agents = bunker.agents;
    registerCleanup(() => { for (const a of [agents.primary, agents.bunker, agents.secondary]) a.process.child.kill('SIGKILL'); });
    const order: Target[] = [await plainStarting, await durableStarting];
    const diagnostic = await diagnosticStarting;
    if (diagnostic !== null) order.push(diagnostic);
    order.push(bunker);
    const [plain] = order;
    if (plain === undefined) throw new Error('unreachable');

    for (const target of order) {
      const began = performance.now();
      await warmUp(target.uri, VOLUME_BYTES, WARM_UP_SECONDS, root);
      await target.settle();
      say(`warmed up ${target.id} (${((performance.now() - began) / 1000).toFixed(0)} s of 4 KiB random writes at QD16, not measured)`);
    }

    for (const workload of list) {
      if (workload.direction === 'read') {
        // One file serves the three baselines: prefill it once, through nbdkit; Bunker through its primary.
        prefillSeconds['nbdkit-plain'] = await prefill(plain.uri, workload.regionBytes, root);
        prefillSeconds.bunker = await prefill(bunker.uri, workload.regionBytes, root);
        await bunker.settle();
      }
      for (const target of order) {
        const syncStarted = performance.now();
        await runOk('sync', [], 120_000);
        const syncSeconds = (performance.now() - syncStarted) / 1000;
        if (syncSeconds > 2) say(`(sync before ${workload.id} on ${target.id} took ${syncSeconds.toFixed(1)} s)`);
        try {
          const m = await measure(target, workload, root, countSyscalls);
          measurements.push(m);
          const f = m.figures;
          say(`${workload.id.padEnd(15)} ${target.id.padEnd(15)} ${f.iops.toFixed(0).padStart(8)} IOPS ${f.mbPerSecond.toFixed(1).padStart(7)} MB/s  p50 ${f.clatP50Us.toFixed(0).padStart(6)} µs  p99 ${f.clatP99Us.toFixed(0).padStart(6)} µs  server ${Object.entries(m.coresByProcess).map(([n, c]) => `${n} ${c.toFixed(2)}`).join(' ')}  rest ${restCores(m).toFixed(2)}`);
        } catch (error) {
          const text = `${workload.id} on ${target.id}: ${error instanceof Error ? error.message : String(error)}`;
          failures.push(text);
          say(`FAILED ${text}`);
        }
      }
      if (profileDir !== null) {
        // The profiles come from one more Bunker run, after the measured ones.
        try {
          await runOk('sync', [], 120_000);
          const profiled = await measure(bunker, workload, root, false, true);
          say(`${workload.id.padEnd(15)} bunker, profiled ${profiled.figures.iops.toFixed(0).padStart(8)} IOPS ${profiled.figures.mbPerSecond.toFixed(1).padStart(7)} MB/s  p50 ${profiled.figures.clatP50Us.toFixed(0).padStart(6)} µs (profile only; not in the tables)`);
        } catch (error) {
          say(`profiled run of ${workload.id} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
    for (const [name, pid] of bunker.pids) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
      if (hwm !== undefined) rssMiB[name] = Number(hwm) / 1024;
    }
  } finally {
    for (const target of started.reverse()) await target.stop().catch((error: unknown) => say(`stopping ${target.id}: ${String(error)}`));
  }

  const profiles = profileDir === null ? [] : await summariseProfiles(profileDir, list);
  const result: RunResult = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    quick: options.quick,
    timing,
    volumeBytes: VOLUME_BYTES,
    logBytes: LOG_BYTES,
    readRegionBytes: READ_REGION_BYTES,
    dir: root,
    machine,
    targets: [
      { id: 'nbdkit-plain', title: 'nbdkit plain' },
      { id: 'nbdkit-durable', title: 'nbdkit durable' },
      ...(withDiagnostic ? [{ id: 'agent-nbd-file' as const, title: 'agent NBD server, plain file' }] : []),
      { id: 'bunker', title: 'Bunker' },
    ],
    workloads: list,
    measurements,
    prefillSeconds,
    profiles,
    durationSeconds: (performance.now() - began) / 1000,
    command: `npm run bench:datapath${options.quick ? ' -- --quick' : ''}`,
    agentBuild,
    warmUpSeconds: WARM_UP_SECONDS,
    failures,
    rssMiB,
  };
  await writeFile(join(root, 'result.json'), JSON.stringify(result, null, 1));
  if (options.json !== undefined) await writeFile(options.json, JSON.stringify(result, null, 1));

  if (!options['no-doc']) await writeDoc(result);
  for (const g of goals(result)) say(`goal: ${g.what} ${g.goal}: ${g.measured.toFixed(2)}× ${g.met ? 'met' : 'NOT met'}`);
  if (options.keep) say(`kept ${root} (raw fio reports, agent logs, profiles, result.json)`);
  else await rm(root, { recursive: true, force: true });
  say(`took ${result.durationSeconds.toFixed(0)} s`);
  if (failures.length > 0) process.exitCode = 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    runCleanups();
    if (tempRoot !== undefined && !options.keep) rmSync(tempRoot, { recursive: true, force: true });
    process.exit(130);
  });
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:datapath: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  runCleanups();
  process.exitCode = 1;
  if (tempRoot !== undefined) {
    if (options.keep) process.stderr.write(`kept ${tempRoot}\n`);
    else await rm(tempRoot, { recursive: true, force: true }).catch(() => undefined);
  }
});
