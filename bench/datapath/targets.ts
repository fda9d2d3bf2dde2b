// What the benchmark measures: Bunker (three real agents on loopback, one volume in
// recovery: sync + secondary: async, served by the primary over NBD) and two unreplicated
// nbdkit baselines on a file in the same directory. Each target is started here and stopped
// by its stop(), which the runner calls from a finally block.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, open, readFile, rename, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FillPolicy, RecoveryMode, Role, SecondaryMode, type ConfigureRequest, type Peer, type VolumeStatus } from '@bunker/proto';
import { startAgent, type AgentProcess } from '../../test/support/agent-process.js';
import { freePort } from '../../test/support/free-port.js';
import { repoRoot } from '../../test/support/control-plane.js';
import { waitFor } from '../../test/support/wait-for.js';
import { registerCleanup } from './proc.js';

export type TargetId = 'nbdkit-plain' | 'nbdkit-durable' | 'agent-nbd-file' | 'bunker';

export interface Target {
  readonly id: TargetId;
  readonly title: string;
  readonly uri: string;
  /** The server processes to account CPU to, by name. */
  readonly pids: ReadonlyMap<string, number>;
  /** Called after each workload, before the next starts (e.g. let the secondary catch up). */
  settle(): Promise<Record<string, number>>;
  stop(): Promise<void>;
  /** Hooks around the measured window (Bunker: CPU profiling of the agents). */
  readonly window?: { open(): void; close(label: string): Promise<void> };
}

const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------- nbdkit

export interface NbdkitOptions {
  readonly id: 'nbdkit-plain' | 'nbdkit-durable';
  readonly file: string;
  readonly logPath: string;
}

/** A preallocated-size sparse file, like the agent's data file. */
export async function createSparseFile(path: string, sizeBytes: number): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.truncate(sizeBytes);
  } finally {
    await handle.close();
  }
}

export async function startNbdkit(options: NbdkitOptions): Promise<Target> {
  const durable = options.id === 'nbdkit-durable';
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const args = [
      '-f', '--exit-with-parent', '-p', String(port), '-i', '127.0.0.1',
      ...(durable ? ['--filter=fua'] : []), 'file', options.file, ...(durable ? ['fuamode=force'] : []),
    ];
    const logFd = await open(options.logPath, 'a');
    const child = spawn('nbdkit', args, { stdio: ['ignore', logFd.fd, logFd.fd], env: cleanEnv() });
    await logFd.close();
    const unregister = registerCleanup(() => { child.kill('SIGKILL'); });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      unregister();
    };
    try {
      await waitFor(`nbdkit on port ${port}`, async () => {
        if (child.exitCode !== null) throw new Error(`nbdkit exited with ${child.exitCode}: ${await readFile(options.logPath, 'utf8')}`);
        return (await canConnect(port)) ? true : undefined;
      }, { timeoutMs: 10_000, intervalMs: 50 });
    } catch (error) {
      await stop();
      if (attempt < 3) continue; // the port was taken between the probe and nbdkit's bind
      throw error;
    }
    if (child.pid === undefined) throw new Error('nbdkit has no pid');
    return {
      id: options.id,
      title: durable ? 'nbdkit durable (`--filter=fua file … fuamode=force`)' : 'nbdkit plain (`file`, page cache)',
      uri: `nbd://127.0.0.1:${port}/`,
      pids: new Map([['nbdkit', child.pid]]),
      settle: async () => ({}),
      stop,
    };
  }
}

/** Our environment without the profiler preload an agent start may have set for a moment. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of ['NODE_OPTIONS', 'BENCH_CPU_PROFILE_DIR', 'BENCH_CPU_PROFILE_NAME']) delete env[key];
  return env;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}

// ------------------------------------------------------- the agent's NBD server on a file

/** The agent's NBD server alone (agent/dist) on a plain file: see file-export-server.ts. */
export async function startAgentFileExport(options: { readonly file: string; readonly sizeBytes: number; readonly logPath: string }): Promise<Target> {
  const script = fileURLToPath(new URL('./file-export-server.ts', import.meta.url));
  const env = cleanEnv();
  const child = spawn(process.execPath, ['--import', 'tsx', script, options.file, String(options.sizeBytes)], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env,
  });
  const unregister = registerCleanup(() => { child.kill('SIGKILL'); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    unregister();
  };
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  try {
    const port = await waitFor('the agent NBD file export', async () => {
      if (child.exitCode !== null) throw new Error(`file-export-server exited with ${child.exitCode}: ${output}`);
      const line = output.split('\n').find((l) => l.includes('"msg":"ready"'));
      if (line === undefined) return undefined;
      const parsed: unknown = JSON.parse(line);
      return typeof parsed === 'object' && parsed !== null && 'port' in parsed ? Number(parsed.port) : undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    if (child.pid === undefined) throw new Error('file-export-server has no pid');
    return {
      id: 'agent-nbd-file',
      title: 'agent NBD server alone on a plain file (no replication, page cache)',
      uri: `nbd://127.0.0.1:${port}/file`,
      pids: new Map([['agent-nbd', child.pid]]),
      settle: async () => {
        await writeFile(options.logPath, output);
        return {};
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------------- Bunker

export interface BunkerOptions {
  readonly baseDir: string;
  readonly volumeBytes: number;
  readonly logBytes: number;
  /** Folder for --cpu-prof output of each agent, or null not to profile. */
  readonly profileDir: string | null;
}

export const VOLUME = 'default/bench';

function configureRequest(uid: string, options: BunkerOptions, role: Role, peers: { primary?: Peer; bunker?: Peer; secondaryPeer?: Peer }): ConfigureRequest {
  return {
    volume: VOLUME, volumeUid: uid, epoch: 1, role, sizeBytes: options.volumeBytes, logBytes: options.logBytes,
    recovery: RecoveryMode.RECOVERY_MODE_SYNC, secondary: SecondaryMode.SECONDARY_MODE_ASYNC,
    fillPolicy: FillPolicy.FILL_POLICY_TRACK_CHANGES, changeMapRegionBytes: 64 * 1024,
    primary: peers.primary, bunker: peers.bunker, secondaryPeer: peers.secondaryPeer, clearChangeMap: false,
  };
}

async function volumeOf(agent: AgentProcess): Promise<VolumeStatus> {
  const status = await agent.status();
  const volume = status.volumes.find((v) => v.volume === VOLUME);
  if (volume === undefined) throw new Error(`${agent.node} does not hold ${VOLUME}`);
  return volume;
}

const profilerUrl = new URL('./cpu-profiler.mjs', import.meta.url).href;

/** Starts an agent; when profiling, with the cpu-profiler.mjs preload (the agent inherits our environment). */
async function startProfiledAgent(node: string, options: BunkerOptions): Promise<AgentProcess> {
  const saved = { NODE_OPTIONS: process.env.NODE_OPTIONS, BENCH_CPU_PROFILE_DIR: process.env.BENCH_CPU_PROFILE_DIR, BENCH_CPU_PROFILE_NAME: process.env.BENCH_CPU_PROFILE_NAME };
  if (options.profileDir !== null) {
    process.env.NODE_OPTIONS = [saved.NODE_OPTIONS ?? '', `--import=${profilerUrl}`].join(' ').trim();
    process.env.BENCH_CPU_PROFILE_DIR = options.profileDir;
    process.env.BENCH_CPU_PROFILE_NAME = node;
  }
  try {
    return await startAgent({ node, baseDir: options.baseDir });
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** Profiles the agents over a window: SIGUSR2 starts, SIGUSR2 stops and writes (see cpu-profiler.mjs). */
function agentProfiler(agents: readonly AgentProcess[], dir: string): { open(): void; close(label: string): Promise<void> } {
  const written = new Map<string, number>();
  return {
    open: () => {
      for (const agent of agents) process.kill(agent.process.pid, 'SIGUSR2');
    },
    close: async (label) => {
      await Promise.all(agents.map(async (agent) => {
        process.kill(agent.process.pid, 'SIGUSR2');
        const count = (written.get(agent.node) ?? 0) + 1;
        written.set(agent.node, count);
        const path = join(dir, `${agent.node}-${count}.cpuprofile`);
        await waitFor(`the profile of ${agent.node}`, async () => (await access(path).then(() => true, () => undefined)), { timeoutMs: 20_000, intervalMs: 100 });
        await rename(path, join(dir, `${agent.node}--${label}.cpuprofile`));
      }));
    },
  };
}

export interface BunkerTarget extends Target {
  readonly agents: { readonly primary: AgentProcess; readonly bunker: AgentProcess; readonly secondary: AgentProcess };
  volumeStatus(): Promise<{ primary: VolumeStatus; bunker: VolumeStatus; secondary: VolumeStatus }>;
}

export async function startBunker(options: BunkerOptions): Promise<BunkerTarget> {
  const started: AgentProcess[] = [];
  const stopAll = async (): Promise<void> => {
    // Graceful stop (SIGTERM): in-flight writes finish and the logs are synced.
    await Promise.all(started.map((agent) => agent.stop().catch(() => agent.kill())));
  };
  try {
    const primary = await startProfiledAgent('site-a', options);
    started.push(primary);
    const bunker = await startProfiledAgent('site-b', options);
    started.push(bunker);
    const secondary = await startProfiledAgent('site-c', options);
    started.push(secondary);
    const peer = (agent: AgentProcess): Peer => ({ node: agent.node, address: agent.grpcAddress });
    const uid = randomUUID();
    await bunker.configure(configureRequest(uid, options, Role.ROLE_BUNKER, { primary: peer(primary) }));
    await secondary.configure(configureRequest(uid, options, Role.ROLE_SECONDARY, { primary: peer(primary) }));
    await primary.configure(configureRequest(uid, options, Role.ROLE_PRIMARY, { bunker: peer(bunker), secondaryPeer: peer(secondary) }));
    await waitFor('the primary to serve the volume', async () => ((await volumeOf(primary)).nbdAddress !== '' ? true : undefined), { timeoutMs: 20_000 });
    const volumeStatus = async () => ({ primary: await volumeOf(primary), bunker: await volumeOf(bunker), secondary: await volumeOf(secondary) });
    return {
      id: 'bunker',
      title: 'Bunker (3 agents: recovery sync + secondary async)',
      uri: `nbd://127.0.0.1:${primary.nbdPort}/${VOLUME}`,
      pids: new Map([['primary', primary.process.pid], ['bunker', bunker.process.pid], ['secondary', secondary.process.pid]]),
      agents: { primary, bunker, secondary },
      volumeStatus,
      ...(options.profileDir === null ? {} : { window: agentProfiler([primary, bunker, secondary], options.profileDir) }),
      /** Waits (bounded) for the secondary to apply everything, so its backlog does not load the next run. */
      settle: async () => {
        const began = performance.now();
        const atEnd = await volumeStatus();
        let caughtUp = true;
        await waitFor('the secondary to apply everything', async () => {
          const s = await volumeOf(secondary);
          return s.appliedSeq >= atEnd.primary.durableSeq ? true : undefined;
        }, { timeoutMs: 60_000, intervalMs: 100 }).catch(() => { caughtUp = false; });
        return {
          secondaryLagEntriesAtEnd: Math.max(0, atEnd.primary.durableSeq - atEnd.secondary.appliedSeq),
          secondaryCatchUpSeconds: caughtUp ? (performance.now() - began) / 1000 : Number.NaN,
          primaryLogUsedMiBAtEnd: atEnd.primary.logUsedBytes / MiB,
          trackingChanges: atEnd.primary.trackingChanges ? 1 : 0,
        };
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

export const dataFileOf = (agent: AgentProcess): string => join(agent.dataDir, 'volumes', VOLUME.replace('/', '__'), 'data.img');
