// The cluster the cluster benchmarks run against, as the integration tests build it: a real
// control plane (etcd + kube-apiserver, test/support/control-plane.ts), the operator and the
// agents as processes (operator/dist, agent/dist), Node objects made Ready by hand (no
// kubelet), and a veth link whose root-namespace address the agents announce (the apiserver
// refuses loopback addresses in EndpointSlices). Every benchmark run gets three fresh nodes
// and a fresh volume; everything started is stopped by `close()` (and by the supervisors'
// watchdogs if this process dies).
import { KubeConfig } from '@kubernetes/client-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReplicatedVolume } from '../../operator/src/api/index.js';
import { startAgent, type AgentProcess } from '../../test/support/agent-process.js';
import { startControlPlane, type ControlPlane } from '../../test/support/control-plane.js';
import { freePort } from '../../test/support/free-port.js';
import { kubectl } from '../../test/support/kubectl.js';
import {
  ensureNamespace, ensureReadyNode, installCrd, kubectlOk, markNodeNotReady, startOperator, testLinkAddress, type OperatorProcess,
} from '../../test/support/operator-process.js';
import { startDelayRelay, type DelayRelay } from '../../test/support/tcp-relay.js';
import { volumeReader } from '../../test/support/volume-reader.js';
import { waitFor } from '../../test/support/wait-for.js';

export const NAMESPACE = 'bench-cluster';
const OPERATOR_NAMESPACE = 'bench-cluster-system';
export const MiB = 1024 * 1024;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export const say = (text: string): void => { process.stdout.write(`${text}\n`); };

export interface Trio {
  readonly prefix: string;
  readonly nodes: { readonly primary: string; readonly bunker: string; readonly secondary: string };
  readonly agents: Map<string, AgentProcess>;
  agent(node: string): AgentProcess;
  relay?: DelayRelay;
}

export interface VolumeOptions {
  readonly name: string;
  readonly trio: Trio;
  readonly size: string;
  readonly log: string;
  readonly graceSeconds: number;
  readonly resyncBytesPerSecond?: string;
}

export class Cluster {
  private controlPlane: ControlPlane | undefined;
  private link: { readonly host: string; destroy(): Promise<void> } | undefined;
  private operator: OperatorProcess | undefined;
  private readonly trios: Trio[] = [];
  private readonly relays: DelayRelay[] = [];
  // Polled many times a second: through the client library, not a kubectl process per look,
  // so that the benchmark's own polling takes little CPU from what it measures.
  private reader: ((namespace: string, name: string) => Promise<ReplicatedVolume>) | undefined;
  baseDir = '';
  keep = false;

  get host(): string {
    if (this.link === undefined) throw new Error('cluster not started');
    return this.link.host;
  }

  async start(): Promise<void> {
    this.baseDir = await mkdtemp(join(tmpdir(), 'bunker-bench-cluster-'));
    this.controlPlane = await startControlPlane();
    // test/support/kubectl.ts and the operator helpers read the kubeconfig from here.
    process.env['BUNKER_TEST_KUBECONFIG'] = this.controlPlane.kubeconfigPath;
    process.env['BUNKER_CONTROL_PLANE_BIN'] = this.controlPlane.binDir;
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(this.controlPlane.kubeconfigPath);
    this.reader = volumeReader(kubeConfig);
    await installCrd();
    await ensureNamespace(OPERATOR_NAMESPACE);
    await ensureNamespace(NAMESPACE);
    this.link = await testLinkAddress(97);
    this.operator = await startOperator({
      identity: 'bench', baseDir: this.baseDir, kubeconfig: this.controlPlane.kubeconfigPath, namespace: OPERATOR_NAMESPACE,
      volumeNamespaces: [NAMESPACE], leaderElect: false,
    });
  }

  /** Three fresh agents on fresh Ready nodes `<prefix>-a/b/c`; with a delay, the secondary's gRPC address is announced through a delay relay. */
  async trio(prefix: string, options: { secondaryDelayMs?: number; leaseSeconds?: number } = {}): Promise<Trio> {
    const kubeconfig = this.kubeconfig();
    const nodes = { primary: `${prefix}-a`, bunker: `${prefix}-b`, secondary: `${prefix}-c` };
    const agents = new Map<string, AgentProcess>();
    const trio: Trio = {
      prefix, nodes, agents,
      agent: (node) => {
        const found = agents.get(node);
        if (found === undefined) throw new Error(`no agent on ${node}`);
        return found;
      },
    };
    this.trios.push(trio);
    for (const node of Object.values(nodes)) {
      await ensureReadyNode(node);
      const lease = ['--lease-duration-seconds', String(options.leaseSeconds ?? 10)];
      if (node === nodes.secondary && options.secondaryDelayMs !== undefined && options.secondaryDelayMs > 0) {
        const grpcPort = await freePort(this.host);
        const relay = await startDelayRelay(this.host, { host: this.host, port: grpcPort }, options.secondaryDelayMs);
        this.relays.push(relay);
        trio.relay = relay;
        agents.set(node, await startAgent({
          node, baseDir: this.baseDir, kubeconfig, namespace: OPERATOR_NAMESPACE, host: this.host, grpcPort,
          extraArgs: [...lease, '--advertise-grpc', `${relay.host}:${relay.port}`],
        }));
      } else {
        agents.set(node, await startAgent({ node, baseDir: this.baseDir, kubeconfig, namespace: OPERATOR_NAMESPACE, host: this.host, extraArgs: lease }));
      }
    }
    return trio;
  }

  /** Restarts a node's agent on its old ports and data folder, and makes its Node Ready again. */
  async restart(trio: Trio, node: string, ports: { grpcPort: number; nbdPort: number }): Promise<AgentProcess> {
    const started = await startAgent({ node, baseDir: this.baseDir, kubeconfig: this.kubeconfig(), namespace: OPERATOR_NAMESPACE, host: this.host, ...ports });
    trio.agents.set(node, started);
    await ensureReadyNode(node);
    return started;
  }

  kubeconfig(): string {
    if (this.controlPlane === undefined) throw new Error('cluster not started');
    return this.controlPlane.kubeconfigPath;
  }

  async createVolume(options: VolumeOptions): Promise<void> {
    const { trio } = options;
    await kubectlOk(['-n', NAMESPACE, 'apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name: options.name },
      spec: {
        size: options.size, log: { size: options.log }, failover: { gracePeriodSeconds: options.graceSeconds },
        ...(options.resyncBytesPerSecond === undefined ? {} : { resync: { bytesPerSecondMax: options.resyncBytesPerSecond } }),
        placement: { primary: { node: trio.nodes.primary }, bunker: { node: trio.nodes.bunker }, secondary: { node: trio.nodes.secondary } },
      },
    }));
    await waitFor(`${options.name} to be Ready`, async () => ((await this.volume(options.name)).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 90_000, intervalMs: 200 });
  }

  volume(name: string): Promise<ReplicatedVolume> {
    if (this.reader === undefined) throw new Error('cluster not started');
    return this.reader(NAMESPACE, name);
  }

  async patchVolume(name: string, patch: unknown): Promise<void> {
    await kubectlOk(['-n', NAMESPACE, 'patch', 'replicatedvolume', name, '--type', 'merge', '-p', JSON.stringify(patch)]);
  }

  async deleteVolume(name: string): Promise<void> {
    await kubectl(['-n', NAMESPACE, 'delete', 'replicatedvolume', name, '--timeout', '20s', '--wait=false']).catch(() => undefined);
  }

  markNotReady(node: string): Promise<void> {
    return markNodeNotReady(node);
  }

  /** Stops a trio's agents and relay (the benchmark is done with those nodes). */
  async stopTrio(trio: Trio): Promise<void> {
    for (const a of trio.agents.values()) a.process.child.kill('SIGCONT');
    await Promise.all([...trio.agents.values()].map((a) => a.stop().catch(() => undefined)));
    trio.agents.clear();
    if (trio.relay !== undefined) await trio.relay.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.operator?.alive() === true) await kubectl(['-n', NAMESPACE, 'delete', 'replicatedvolumes', '--all', '--timeout', '20s', '--wait=false']).catch(() => undefined);
    await this.operator?.stop().catch(() => undefined);
    for (const trio of this.trios) await this.stopTrio(trio);
    for (const relay of this.relays) await relay.close().catch(() => undefined);
    await this.link?.destroy().catch(() => undefined);
    await this.controlPlane?.stop().catch(() => undefined);
    if (this.baseDir !== '' && !this.keep) await rm(this.baseDir, { recursive: true, force: true });
    if (this.keep) say(`kept ${this.baseDir} (agents' and operator's logs)`);
  }
}

/** The volume's replica figures on one agent. */
export async function replicaOn(agent: AgentProcess, name: string): Promise<Awaited<ReturnType<AgentProcess['status']>>['volumes'][number] | undefined> {
  return (await agent.status()).volumes.find((v) => v.volume === `${NAMESPACE}/${name}`);
}

export function portsOf(agent: AgentProcess): { grpcPort: number; nbdPort: number } {
  return { grpcPort: Number(agent.grpcAddress.slice(agent.grpcAddress.lastIndexOf(':') + 1)), nbdPort: agent.nbdPort };
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}
