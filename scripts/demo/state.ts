// What a demo run leaves behind, recorded as it goes so that `--down` can clean up after a run
// that was killed: the pids it started (each checked against its command line before it is
// signalled, so a recycled pid is never hit), its temporary folders and its subnet (the network
// namespaces' names follow from it).
import { existsSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeSiteNetwork } from './network.js';

export interface DemoState {
  demoPid: number;
  subnet: number;
  dirs: string[];
  processes: Array<{ name: string; pid: number; match: string }>;
}

export function statePath(subnet: number): string {
  return join(tmpdir(), `bunker-demo-${subnet}.json`);
}

export class StateFile {
  private readonly state: DemoState;

  constructor(private readonly subnet: number) {
    this.state = { demoPid: process.pid, subnet, dirs: [], processes: [] };
    this.save();
  }

  addDir(dir: string): void {
    this.state.dirs.push(dir);
    this.save();
  }

  /** `match`: a string the process's command line contains. */
  addProcess(name: string, pid: number, match: string): void {
    this.state.processes = this.state.processes.filter((p) => p.name !== name);
    this.state.processes.push({ name, pid, match });
    this.save();
  }

  remove(): void {
    rmSync(statePath(this.subnet), { force: true });
  }

  private save(): void {
    writeFileSync(statePath(this.subnet), `${JSON.stringify(this.state, null, 2)}\n`);
  }
}

function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

function pidsMentioning(text: string): number[] {
  if (text.length < 8) return [];
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number)
    .filter((pid) => {
      const cmd = commandLine(pid);
      // Watchdogs (test/support/supervised-process.ts) end by themselves once their parent is gone.
      return pid !== process.pid && cmd !== undefined && cmd.includes(text) && !cmd.startsWith('sh -c while kill -0');
    });
}

function alive(pid: number, match: string): boolean {
  const cmd = commandLine(pid);
  return cmd !== undefined && cmd.includes(match);
}

async function waitGone(pid: number, match: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid, match)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return !alive(pid, match);
}

/** Stops what the state file of `subnet` lists, removes its folders and network; says what it did. */
export async function down(subnet: number, siteNames: readonly string[], log: (line: string) => void): Promise<void> {
  const path = statePath(subnet);
  if (existsSync(path)) {
    const state = JSON.parse(readFileSync(path, 'utf8')) as DemoState;
    if (state.demoPid !== process.pid && alive(state.demoPid, 'local-cluster')) {
      log(`stopping the demo process ${state.demoPid} (SIGTERM)`);
      process.kill(state.demoPid, 'SIGTERM');
      if (!(await waitGone(state.demoPid, 'local-cluster', 30_000))) {
        log(`demo process ${state.demoPid} still running after 30 s: SIGKILL`);
        process.kill(state.demoPid, 'SIGKILL');
      }
    }
    for (const p of state.processes) {
      if (!alive(p.pid, p.match)) continue;
      log(`killing ${p.name} (pid ${p.pid})`);
      process.kill(p.pid, 'SIGKILL');
      await waitGone(p.pid, p.match, 5_000);
    }
    // Anything else started with one of the run's folders on its command line (etcd, the
    // apiserver, agents): normally its watchdog has stopped it already.
    for (const dir of state.dirs) {
      for (const pid of pidsMentioning(dir)) {
        log(`killing pid ${pid} (${(commandLine(pid) ?? '').slice(0, 60)}…)`);
        process.kill(pid, 'SIGKILL');
      }
    }
    for (const dir of state.dirs) {
      if (existsSync(dir)) {
        log(`removing ${dir}`);
        rmSync(dir, { recursive: true, force: true });
      }
    }
    rmSync(path, { force: true });
  } else {
    log(`no state file ${path}: no processes or folders recorded`);
  }
  if (process.getuid?.() === 0) {
    const removed = await removeSiteNetwork(subnet, siteNames);
    log(removed.length === 0 ? `no network namespaces of subnet 10.213.${subnet}.0/24 left` : `removed ${removed.join(', ')}`);
  }
}
