// The whole benchmark suite (issue 12): regenerates docs/benchmarks.md. Builds the workspace,
// then runs each benchmark as a child process, one after the other (they would disturb each
// other's figures if run together); each writes its own section:
//   - bench/datapath/run.ts     "## Data path"   (npm run bench:datapath)
//   - bench/log/run.sh          "## Change log"
//   - bench/resync/run.ts       "## Resync"      (npm run bench:resync)
//   - bench/cluster/run.ts      "## Cluster"     (takeover, detection, time series, far link, CPU/RSS; charts in docs/img/)
// and finally the preamble under the title: date, machine, versions, what ran and how long.
//
//   npm run bench                 # full runs
//   npm run bench -- --quick      # short runs (under 10 minutes on the 2-CPU development VM)
//   options: --only datapath,log,resync,cluster   --no-build
//
// A benchmark that fails does not stop the others; the suite exits non-zero and the preamble
// says which failed. Every child is killed if this process is interrupted.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../test/support/control-plane.js';
import { runCommand } from './datapath/proc.js';
import { replacePreamble } from './doc-sections.js';

const { values: options } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
  strict: true,
});
const quick = options.quick;
const docPath = join(repoRoot, 'docs/benchmarks.md');
const say = (text: string): void => { process.stdout.write(`${text}\n`); };

interface Bench {
  readonly id: 'datapath' | 'log' | 'resync' | 'cluster';
  readonly section: string;
  readonly command: string;
  readonly args: readonly string[];
}

const benches: readonly Bench[] = [
  { id: 'datapath', section: 'Data path', command: 'npx', args: ['tsx', 'bench/datapath/run.ts', ...(quick ? ['--quick'] : [])] },
  { id: 'log', section: 'Change log', command: 'bash', args: ['bench/log/run.sh', ...(quick ? ['--seconds', '2', '--slices', '4'] : [])] },
  { id: 'resync', section: 'Resync', command: 'npx', args: ['tsx', 'bench/resync/run.ts', ...(quick ? ['--quick'] : [])] },
  { id: 'cluster', section: 'Cluster', command: 'npx', args: ['tsx', 'bench/cluster/run.ts', ...(quick ? ['--quick'] : [])] },
];

let running: ChildProcess | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    // The child's own handlers stop what it started (and its processes' watchdogs see it go).
    running?.kill(signal);
    setTimeout(() => process.exit(130), 15_000).unref();
  });
}

function runChild(command: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: repoRoot, stdio: 'inherit' });
    running = child;
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      running = undefined;
      resolve(code ?? (signal === null ? 1 : 128));
    });
  });
}

async function firstLine(command: string, args: readonly string[], cwd?: string): Promise<string> {
  const result = await runCommand(command, args, { timeoutMs: 120_000, ...(cwd === undefined ? {} : { cwd }) }).catch(() => undefined);
  if (result === undefined || (result.code !== 0 && result.stdout === '')) return 'unavailable';
  return `${result.stdout}${result.stderr}`.trim().split('\n')[0] ?? 'unavailable';
}

async function packageVersion(name: string): Promise<string> {
  const text = await readFile(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8').catch(() => '');
  return text === '' ? '?' : (JSON.parse(text) as { version: string }).version;
}

async function versions(): Promise<string[]> {
  const commit = await firstLine('git', ['rev-parse', '--short', 'HEAD'], repoRoot);
  const dirty = (await runCommand('git', ['status', '--porcelain', '--', 'agent/src', 'operator/src', 'proto/src'], { timeoutMs: 30_000, cwd: repoRoot }).catch(() => undefined))?.stdout.trim() ?? '';
  const bunker = (JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const bin = (await runCommand('bash', [join(repoRoot, 'scripts/control-plane/build.sh')], { timeoutMs: 60 * 60_000 }).catch(() => undefined))?.stdout.trim().split('\n').pop() ?? '';
  const apiserver = bin === '' ? 'unavailable' : await firstLine(join(bin, 'kube-apiserver'), ['--version']);
  const etcd = bin === '' ? 'unavailable' : await firstLine(join(bin, 'etcd'), ['--version']);
  const libnbd = await firstLine('/usr/bin/python3', ['-c', 'import nbd; print(nbd.NBD().get_version())']);
  return [
    `Bunker ${bunker}, commit ${commit}${dirty === '' ? '' : ' with uncommitted changes in agent/operator/proto sources (others were working on them during this run)'}; agent/dist and operator/dist built from that tree at the start of the run${options['no-build'] ? ' (skipped: --no-build)' : ''}`,
    `Node ${process.version}`,
    `${apiserver}, ${etcd.replace(/^etcd Version: /, 'etcd ')} (scripts/control-plane)`,
    `${await firstLine('fio', ['--version'])}, ${await firstLine('nbdkit', ['--version'])}, ${(await firstLine('qemu-io', ['--version'])).replace(/ Copyright.*/, '')}, libnbd ${libnbd} (Python bindings)`,
    `vega ${await packageVersion('vega')}, vega-lite ${await packageVersion('vega-lite')} (charts, rendered to SVG headless)`,
  ];
}

async function main(): Promise<void> {
  const started = performance.now();
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const loadStart = loadavg();
  const only = options.only === undefined ? undefined : new Set(options.only.split(','));
  let buildNote = '';
  if (!options['no-build']) {
    say('bench: building the workspace (npx tsc -b)');
    const build = await runCommand('npx', ['tsc', '-b'], { timeoutMs: 600_000, cwd: repoRoot });
    if (build.code !== 0) {
      buildNote = ` The build (\`npx tsc -b\`) failed (${build.stdout.trim().split('\n')[0] ?? ''}): the benchmarks ran the agent/operator last built.`;
      say(`bench: build failed, going on with the last build:\n${build.stdout}${build.stderr}`);
    }
  }
  const ran: Array<{ bench: Bench; seconds: number; code: number }> = [];
  for (const bench of benches) {
    if (only !== undefined && !only.has(bench.id)) continue;
    say(`\nbench: ${bench.id}: ${bench.command} ${bench.args.join(' ')}`);
    const t = performance.now();
    const code = await runChild(bench.command, bench.args).catch(() => 127);
    ran.push({ bench, seconds: (performance.now() - t) / 1000, code });
    say(`bench: ${bench.id} ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  }
  const total = (performance.now() - started) / 1000;
  const machine = `${availableParallelism()} vCPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 1024 ** 3).toFixed(1)} GiB memory, kernel ${await firstLine('uname', ['-r'])}; a VM **shared with other work**: load average ${loadStart.map((l) => l.toFixed(2)).join(' / ')} at the start and ${loadavg().map((l) => l.toFixed(2)).join(' / ')} at the end`;
  const preamble = [
    `Regenerated by \`npm run bench${quick ? ' -- --quick' : ''}\` (bench/run.ts) started ${startedAt}; the suite took ${Math.round(total)} s` +
      ` (${ran.map((r) => `${r.bench.section} ${Math.round(r.seconds)} s${r.code === 0 ? '' : ', **failed**'}`).join('; ')}).` +
      `${only === undefined ? '' : ' Only some benchmarks ran; the other sections are from earlier runs.'}${buildNote}` +
      `${quick ? ' `--quick`: short runs, rougher figures.' : ''}`,
    '',
    `**Machine.** ${machine}. Every benchmark here runs all its processes on this one machine, so its figures are noisy and pessimistic: read trends and orders of magnitude, and each section's own notes on load.`,
    '',
    '**Versions.**',
    '',
    ...(await versions()).map((v) => `- ${v}`),
    '',
    'Sections: [Change log](#change-log) (bench/log), [Data path](#data-path) (bench/datapath), [Resync](#resync) (bench/resync), [Cluster](#cluster) (bench/cluster: takeover, detection, a writer\'s view of takeover/failback/migration, far-link delay, agent CPU and memory). Each benchmark can also be run on its own; it rewrites only its section.',
    '',
  ].join('\n');
  const current = await readFile(docPath, 'utf8').catch(() => '# Benchmarks\n');
  await writeFile(docPath, replacePreamble(current, preamble));
  say(`\nbench: suite finished in ${Math.round(total)} s; wrote ${docPath}`);
  if (ran.some((r) => r.code !== 0)) process.exitCode = 1;
}

await main();
