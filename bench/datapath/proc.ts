// Small process helpers for the data-path benchmark: a command runner whose every run is
// bounded by a kill timeout, and CPU accounting from /proc so each measurement can say how
// much of the machine the servers, fio and everybody else used while it ran.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** Runs a command to completion; SIGKILLs it (and says so) after timeoutMs. */
export function runCommand(command: string, args: readonly string[], options: { timeoutMs: number; cwd?: string; onSpawn?: (pid: number) => void }): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    const unregister = registerCleanup(() => { child.kill('SIGKILL'); });
    child.once('error', (error) => {
      clearTimeout(timer);
      unregister();
      reject(error);
    });
    child.once('spawn', () => { if (child.pid !== undefined) options.onSpawn?.(child.pid); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      unregister();
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

export async function runOk(command: string, args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const result = await runCommand(command, args, { timeoutMs });
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.timedOut ? 'timed out' : `code ${String(result.code)}`}): ${result.stderr.trim()}`);
  return result.stdout;
}

// Last-resort cleanups (SIGINT/SIGTERM to the benchmark): kill whatever is still running.
const cleanups = new Set<() => void>();

export function registerCleanup(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  return () => { cleanups.delete(cleanup); };
}

export function runCleanups(): void {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // best effort: the process is going away anyway
    }
  }
  cleanups.clear();
}

/** CPU time (user + system) a process has used, in seconds; 0 once it has gone. */
export async function processCpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at state (field 3).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

const CLOCK_TICKS = 100;

/** Busy CPU seconds of the whole machine (all CPUs), from /proc/stat. */
export async function machineBusySeconds(): Promise<number> {
  const stat = await readFile('/proc/stat', 'utf8');
  const line = stat.split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest is already in user.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = values;
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
}

/** Measures CPU used by named processes and by the whole machine across a stretch of time. */
export class CpuMeter {
  private startedAt = 0;
  private startBusy = 0;
  private readonly startByPid = new Map<number, number>();

  constructor(private readonly pids: ReadonlyMap<string, number>) {}

  async start(): Promise<void> {
    this.startedAt = performance.now();
    this.startBusy = await machineBusySeconds();
    for (const pid of this.pids.values()) this.startByPid.set(pid, await processCpuSeconds(pid));
  }

  /** Cores used on average: per named process, and by the whole machine. */
  async stop(): Promise<{ readonly seconds: number; readonly machineCores: number; readonly byName: Record<string, number> }> {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const busy = await machineBusySeconds();
    const byName: Record<string, number> = {};
    for (const [name, pid] of this.pids) byName[name] = ((await processCpuSeconds(pid)) - (this.startByPid.get(pid) ?? 0)) / seconds;
    return { seconds, machineCores: (busy - this.startBusy) / seconds, byName };
  }
}
