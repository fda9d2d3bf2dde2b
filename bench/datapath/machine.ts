// The machine a benchmark ran on, as the report states it.
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { runCommand } from './proc.js';

export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly disk: string;
  readonly kernel: string;
  readonly node: string;
  readonly fio: string;
  readonly nbdkit: string;
  readonly loadAverage: readonly number[];
}

async function firstLine(command: string, args: readonly string[]): Promise<string> {
  const result = await runCommand(command, args, { timeoutMs: 10_000 }).catch(() => undefined);
  if (result === undefined) return 'unknown';
  return `${result.stdout}${result.stderr}`.trim().split('\n')[0] ?? 'unknown';
}

/** df's device, type and size for the folder; and whether the kernel calls the disk rotational. */
async function diskOf(dir: string): Promise<string> {
  const df = await runCommand('df', ['-hT', dir], { timeoutMs: 10_000 }).catch(() => undefined);
  const fields = df?.stdout.trim().split('\n')[1]?.trim().split(/\s+/) ?? [];
  const [device = 'unknown', type = '?', size = '?', , avail = '?'] = fields;
  const base = device.replace(/^\/dev\//, '').replace(/p?\d+$/, '');
  const rotational = await readFile(`/sys/block/${base}/queue/rotational`, 'utf8').then((v) => (v.trim() === '1' ? 'the kernel flags it rotational' : 'non-rotational'), () => '');
  const virtio = await readFile(`/sys/block/${base}/device/modalias`, 'utf8').then((v) => (v.startsWith('virtio') ? 'virtio' : ''), () => '');
  const kind = [virtio, rotational].filter((s) => s !== '').join(', ');
  return `${device} (${type}, ${size}, ${avail} free${kind === '' ? '' : `; ${kind}`})`;
}

export async function describeMachine(dir: string): Promise<Machine> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  return {
    cpus: availableParallelism(),
    cpuModel: model,
    memoryGiB: totalmem() / 1024 ** 3,
    disk: await diskOf(dir),
    kernel: await firstLine('uname', ['-r']),
    node: process.version,
    fio: await firstLine('fio', ['--version']),
    nbdkit: await firstLine('nbdkit', ['--version']),
    loadAverage: loadavg(),
  };
}
