// Starts a long-running child (etcd, kube-apiserver, an agent) so that it cannot outlive the
// process that started it: a tiny shell watchdog kills it (and removes its scratch folder)
// when the parent goes away, even if the parent is killed with SIGKILL and gets no chance to
// clean up. Output goes to a log file so a failing test can show it.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';

export interface SupervisedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code or signal once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface StartOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logPath: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Removed by the watchdog if the parent dies first. */
  readonly scratchDir?: string;
  /** Run inside `ip netns exec NAME`. */
  readonly netns?: string;
}

export function startSupervised(options: StartOptions): SupervisedProcess {
  const logFd = openSync(options.logPath, 'a');
  const [command, args] = options.netns === undefined
    ? [options.command, [...options.args]]
    : ['ip', ['netns', 'exec', options.netns, options.command, ...options.args]];
  const child = spawn(command, args, { stdio: ['ignore', logFd, logFd], env: options.env ?? process.env });
  closeSync(logFd);
  if (child.pid === undefined) throw new Error(`could not start ${options.name} (${options.command})`);
  const pid = child.pid;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  startWatchdog(process.pid, pid, options.scratchDir);

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { name: options.name, pid, logPath: options.logPath, child, exited, stop };
}

function startWatchdog(parentPid: number, childPid: number, scratchDir: string | undefined): void {
  const cleanup = scratchDir === undefined ? '' : `; rm -rf '${scratchDir.replaceAll("'", '')}'`;
  const script = `while kill -0 ${parentPid} 2>/dev/null && kill -0 ${childPid} 2>/dev/null; do sleep 1; done; ` +
    `if ! kill -0 ${parentPid} 2>/dev/null; then kill -9 ${childPid} 2>/dev/null${cleanup}; fi`;
  const watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.unref();
}
