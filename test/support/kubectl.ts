// Runs the machine's kubectl against the test control plane, as a user would type it.
import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function testKubeconfigPath(): string {
  const path = process.env['BUNKER_TEST_KUBECONFIG'];
  if (path === undefined || path === '') {
    throw new Error('BUNKER_TEST_KUBECONFIG is not set: run this test in the integration project, whose global setup starts the control plane');
  }
  return path;
}

export function runCommand(command: string, args: readonly string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => { clearTimeout(timer); reject(error); });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // A command that exits before reading its input must not fail the test with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

export function kubectl(args: readonly string[], options: { input?: string; timeoutMs?: number; kubeconfig?: string } = {}): Promise<CommandResult> {
  const kubeconfig = options.kubeconfig ?? testKubeconfigPath();
  return runCommand('kubectl', ['--kubeconfig', kubeconfig, ...args], options);
}

export interface KubectlWatch {
  /** Each line kubectl printed so far. */
  readonly lines: readonly string[];
  /** Resolves when kubectl exits, whatever the reason. */
  readonly exited: Promise<void>;
  /** Stops the watch; resolves once kubectl has exited. */
  stop(): Promise<void>;
}

/**
 * `kubectl ... --watch` in the background, collecting its lines until stopped (or timeoutMs);
 * `onLine` sees each line as it arrives, synchronously (to act before anything else runs).
 */
export function watchKubectl(args: readonly string[], options: { timeoutMs?: number; onLine?: (line: string) => void } = {}): KubectlWatch {
  const child = spawn('kubectl', ['--kubeconfig', testKubeconfigPath(), ...args, '--watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const line of parts) options.onLine?.(line);
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  return {
    lines,
    exited,
    stop: async () => {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
