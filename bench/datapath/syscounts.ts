// Counts a server process's system calls over a measured window with `perf stat` on kernel
// tracepoints (cheap: counting, no per-call stop): how many fdatasync/fsync it issued, and
// how many system calls it made in all. Divided by the I/Os fio completed, this shows whether
// group commit batches (syncs per write < 1) and how many syscalls one I/O costs.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { registerCleanup, runCommand } from './proc.js';

export interface SyscallCounts {
  readonly syncs: number;
  readonly syscalls: number;
}

const EVENTS = ['syscalls:sys_enter_fdatasync', 'syscalls:sys_enter_fsync', 'raw_syscalls:sys_enter'];

let available: boolean | undefined;

/** Whether perf can count these tracepoints here (root, tracefs); checked once. */
export async function perfAvailable(): Promise<boolean> {
  if (available === undefined) {
    const result = await runCommand('perf', ['stat', '-x', ',', '-e', EVENTS.join(','), '--', 'true'], { timeoutMs: 15_000 }).catch(() => undefined);
    available = result !== undefined && result.code === 0 && !/not supported|<not counted>|invalid|Permission/i.test(result.stderr);
  }
  return available;
}

export interface Counting {
  stop(): Promise<SyscallCounts | null>;
}

export function startCounting(pid: number, outputPath: string): Counting {
  const child = spawn('perf', ['stat', '-x', ',', '-o', outputPath, '-e', EVENTS.join(','), '-p', String(pid)], { stdio: 'ignore' });
  const unregister = registerCleanup(() => { child.kill('SIGKILL'); });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return {
    stop: async () => {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      unregister();
      const text = await readFile(outputPath, 'utf8').catch(() => '');
      await rm(outputPath, { force: true });
      const count = (event: string): number | undefined => {
        const line = text.split('\n').find((l) => l.split(',')[2] === event);
        const value = Number(line?.split(',')[0]);
        return line === undefined || !Number.isFinite(value) ? undefined : value;
      };
      const fdatasync = count(EVENTS[0] ?? '');
      const fsync = count(EVENTS[1] ?? '');
      const all = count(EVENTS[2] ?? '');
      if (fdatasync === undefined || fsync === undefined || all === undefined) return null;
      return { syncs: fdatasync + fsync, syscalls: all };
    },
  };
}
