// The operator as the integration tests run it: the built program (operator/dist), out of
// process, against the run's real apiserver, stopped or killed by the test and never
// outliving the run (see supervised-process.ts). Beside it, what such a test needs around
// it that the control plane lacks: the CRD installed, Node objects that look Ready (there is
// no kubelet), a namespace, and an address agents can announce that an EndpointSlice
// accepts (the apiserver refuses loopback addresses in EndpointSlices).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canUseNetns, createTestNetwork } from './netns.js';
import { parseReplicatedVolume, type ReplicatedVolume } from '../../operator/src/api/index.js';
import { promisify } from 'node:util';
import { repoRoot } from './control-plane.js';
import { kubectl } from './kubectl.js';
import { startSupervised, type SupervisedProcess } from './supervised-process.js';
import { waitFor } from './wait-for.js';

const run = promisify(execFile);

export interface OperatorProcess {
  readonly identity: string;
  readonly metricsPort: number;
  readonly process: SupervisedProcess;
  /** Whether the process is still running. */
  alive(): boolean;
  /** The Prometheus text of /metrics. */
  metrics(): Promise<string>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface OperatorStartOptions {
  readonly identity: string;
  readonly baseDir: string;
  readonly kubeconfig: string;
  /** Namespace of the agents' Leases and of the leader Lease. */
  readonly namespace: string;
  /** Only these namespaces' volumes: keeps the operator off other test files' volumes. */
  readonly volumeNamespaces: readonly string[];
  readonly leaderElect: boolean;
  readonly leaseDurationSeconds?: number;
  readonly renewIntervalSeconds?: number;
}

/** Builds every package (`tsc -b`), so that agent/dist and operator/dist match the sources. */
export async function buildWorkspace(): Promise<void> {
  await run('npx', ['tsc', '-b'], { cwd: repoRoot, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
}

export async function startOperator(options: OperatorStartOptions): Promise<OperatorProcess> {
  const logPath = join(options.baseDir, `operator-${options.identity}.log`);
  const supervised = startSupervised({
    name: `operator ${options.identity}`,
    command: 'node',
    args: [
      join(repoRoot, 'operator/dist/bin/bunker-operator.js'),
      '--kubeconfig', options.kubeconfig, '--namespace', options.namespace,
      '--volume-namespaces', options.volumeNamespaces.join(','), '--identity', options.identity,
      '--metrics-listen', '127.0.0.1:0', '--leader-elect', String(options.leaderElect),
      '--lease-duration-seconds', String(options.leaseDurationSeconds ?? 15),
      ...(options.renewIntervalSeconds === undefined ? [] : ['--renew-interval-seconds', String(options.renewIntervalSeconds)]),
      '--log-level', 'debug',
    ],
    logPath,
  });
  const metricsPort = await waitFor(`operator ${options.identity} to start`, async () => {
    if (supervised.child.exitCode !== null) throw new Error(`operator ${options.identity} exited: ${await readFile(logPath, 'utf8')}`);
    const log = await readFile(logPath, 'utf8').catch(() => '');
    const line = log.split('\n').find((l) => l.includes('"msg":"operator serving"'));
    if (line === undefined) return undefined;
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null && 'metricsPort' in parsed && typeof parsed.metricsPort === 'number' ? parsed.metricsPort : undefined;
  }, { timeoutMs: 20_000, intervalMs: 50 });
  return {
    identity: options.identity, metricsPort, process: supervised,
    alive: () => supervised.child.exitCode === null && supervised.child.signalCode === null,
    metrics: async () => {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      return response.text();
    },
    kill: () => supervised.stop('SIGKILL', 1_000),
    stop: () => supervised.stop('SIGTERM', 15_000),
  };
}

/**
 * A non-loopback address for agents whose NBD address lands in an EndpointSlice (the apiserver
 * refuses loopback there). It is the root-namespace end of a veth link this run creates to a
 * test host namespace of its own: agents stay in the root namespace (they reach the test
 * apiserver on 127.0.0.1) and all traffic stays on links the run made. Needs root.
 */
export async function testLinkAddress(subnetBase: number): Promise<{ readonly host: string; destroy(): Promise<void> }> {
  if (!(await canUseNetns())) throw new Error('the operator tests need root and network namespaces: the apiserver refuses loopback addresses in EndpointSlices');
  const network = await createTestNetwork(['agents'], subnetBase);
  const link = network.hosts[0];
  if (link === undefined) throw new Error('no test link was created');
  return { host: link.rootIp, destroy: () => network.destroy() };
}

/** kubectl that throws, with its stderr, unless it succeeds; resolves with its stdout. */
export async function kubectlOk(args: readonly string[], input?: string): Promise<string> {
  const result = await kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/** Installs the ReplicatedVolume CRD from crds/ (server-side apply: safe if another test did it too). */
export async function installCrd(): Promise<void> {
  await kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds/replicatedvolumes.replication.bunker.dev.yaml')]);
  await kubectlOk(['wait', '--for', 'condition=Established', '--timeout', '60s', 'crd/replicatedvolumes.replication.bunker.dev']);
}

export async function ensureNamespace(name: string): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
}

/** A Node object whose Ready condition is True, as a kubelet would report it (idempotent). */
export async function ensureReadyNode(name: string): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } }));
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const ready = { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'set by the test', lastHeartbeatTime: now, lastTransitionTime: now };
  await kubectlOk(['patch', 'node', name, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({ status: { conditions: [ready] } })]);
}

/** The Node's Ready condition goes Unknown, as when its kubelet stops posting status. */
export async function markNodeNotReady(name: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const unknown = { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'set by the test: the kubelet stopped posting', lastHeartbeatTime: now, lastTransitionTime: now };
  await kubectlOk(['patch', 'node', name, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({ status: { conditions: [unknown] } })]);
}

/** A ReplicatedVolume read with kubectl and parsed by the operator's own adapter. */
export async function readVolume(namespace: string, name: string): Promise<ReplicatedVolume> {
  return parseReplicatedVolume(JSON.parse(await kubectlOk(['-n', namespace, 'get', 'replicatedvolume', name, '-o', 'json'])));
}
