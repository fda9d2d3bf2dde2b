// One operator test's world, started in beforeAll and stopped in afterAll: the workspace
// built, the CRD installed, the operator's and the volumes' namespaces, a Ready Node and an
// agent per site (all on one veth link address: the apiserver refuses loopback endpoints),
// and the operator. Each test file uses its own node names, namespaces and subnet, so files
// running one after another against the same control plane never touch each other's objects.
// With `isolatedSite`, that site's agent runs inside the link's network namespace instead and
// reaches the apiserver through a relay on the link's root end: cutting the link
// (`isolatedHost().cut()`) takes its peers and the control plane away from it at once, as a
// real partition does, while the other agents stay reachable on the root end.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VolumeStatus } from '@bunker/proto';
import type { ReplicatedVolume } from '../../operator/src/api/index.js';
import { startAgent, type AgentProcess } from './agent-process.js';
import { testCluster } from './cluster.js';
import { repoRoot } from './control-plane.js';
import { kubectl } from './kubectl.js';
import { canUseNetns, createTestNetwork, type TestHost, type TestNetwork } from './netns.js';
import { runClient, type ClientRun } from './nbd-clients.js';
import {
  buildWorkspace, ensureNamespace, ensureReadyNode, installCrd, kubectlOk, readVolume, startOperator, type OperatorProcess,
} from './operator-process.js';
import { startApiserverRelay, type TcpRelay } from './tcp-relay.js';
import { waitFor } from './wait-for.js';

export interface TestbedOptions {
  /** Short name: the operator's identity and the temp folder's prefix. */
  readonly name: string;
  /** Namespace of the volumes. */
  readonly namespace: string;
  /** Namespace of the agents' and the operator's Leases. */
  readonly operatorNamespace: string;
  readonly sites: readonly string[];
  /** testLinkAddress subnet, unique to the test file. */
  readonly subnet: number;
  /** More bunker-agent flags for a site (for example --fault-file). */
  readonly agentArgs?: (node: string, baseDir: string) => readonly string[];
  /** A site whose agent runs in the link's namespace, so that cutting the link partitions it. */
  readonly isolatedSite?: string;
}

export interface WriterOptions {
  readonly blocks: number;
  readonly seconds: number;
  readonly seed: number;
  readonly writes?: number;
  readonly reconnect?: boolean;
}

export interface BackgroundWriter {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** What it printed so far. */
  readonly output: readonly string[];
}

export class OperatorTestbed {
  private readonly agents = new Map<string, AgentProcess>();
  private operatorProcess: OperatorProcess | undefined;
  private readonly writers: ChildProcess[] = [];
  /** The isolated site's way to the apiserver, when there is one. */
  private apiserverRelay: (TcpRelay & { readonly kubeconfigPath: string }) | undefined;

  private constructor(
    readonly options: TestbedOptions,
    readonly baseDir: string,
    private readonly network: TestNetwork,
    private readonly link: TestHost,
  ) {}

  static async start(options: TestbedOptions): Promise<OperatorTestbed> {
    if (!(await canUseNetns())) throw new Error('the operator tests need root and network namespaces: the apiserver refuses loopback addresses in EndpointSlices');
    await buildWorkspace();
    await installCrd();
    await ensureNamespace(options.operatorNamespace);
    await ensureNamespace(options.namespace);
    for (const node of options.sites) await ensureReadyNode(node);
    const baseDir = await mkdtemp(join(tmpdir(), `bunker-operator-${options.name}-`));
    const network = await createTestNetwork([options.isolatedSite ?? 'agents'], options.subnet);
    const link = network.hosts[0];
    if (link === undefined) throw new Error('no test link was created');
    const testbed = new OperatorTestbed(options, baseDir, network, link);
    if (options.isolatedSite !== undefined) {
      testbed.apiserverRelay = await startApiserverRelay(testCluster().kubeconfigPath, link.rootIp, join(baseDir, `${options.isolatedSite}.kubeconfig`));
    }
    for (const node of options.sites) await testbed.startAgent(node);
    await testbed.startOperator();
    return testbed;
  }

  /** The isolated site's link: `cut()` partitions it, `restore()` brings it back. */
  isolatedHost(): TestHost {
    if (this.options.isolatedSite === undefined) throw new Error('this testbed has no isolated site');
    return this.link;
  }

  /** The running operator (for example to SIGSTOP it). */
  operator(): OperatorProcess {
    if (this.operatorProcess === undefined) throw new Error('the operator is not running');
    return this.operatorProcess;
  }

  agent(node: string): AgentProcess {
    const found = this.agents.get(node);
    if (found === undefined) throw new Error(`no agent runs on ${node}`);
    return found;
  }

  /** Starts (or restarts, with its data) the agent of a site. */
  async startAgent(node: string): Promise<AgentProcess> {
    const isolated = node === this.options.isolatedSite && this.apiserverRelay !== undefined;
    const agent = await startAgent({
      node, baseDir: this.baseDir, namespace: this.options.operatorNamespace, extraArgs: this.options.agentArgs?.(node, this.baseDir) ?? [],
      ...(isolated
        ? { kubeconfig: this.apiserverRelay?.kubeconfigPath ?? '', host: this.link.ip, netns: this.link.netns }
        : { kubeconfig: testCluster().kubeconfigPath, host: this.link.rootIp }),
    });
    this.agents.set(node, agent);
    return agent;
  }

  /** SIGKILL: the agent's files stay as a crash leaves them. */
  async killAgent(node: string): Promise<void> {
    await this.agent(node).kill();
    this.agents.delete(node);
  }

  /** Starts an operator (a new identity, for one that replaces a killed one). */
  async startOperator(identity = this.options.name): Promise<OperatorProcess> {
    const started = await startOperator({
      identity, baseDir: this.baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: this.options.operatorNamespace,
      volumeNamespaces: [this.options.namespace], leaderElect: false,
    });
    this.operatorProcess = started;
    return started;
  }

  operatorRunning(): boolean {
    return this.operatorProcess?.alive() === true;
  }

  /** SIGKILL of the operator: whatever it was doing stops mid-step. */
  async killOperator(): Promise<void> {
    await this.operatorProcess?.kill();
    this.operatorProcess = undefined;
  }

  async stopOperator(): Promise<void> {
    await this.operatorProcess?.stop();
    this.operatorProcess = undefined;
  }

  volume(name: string): Promise<ReplicatedVolume> {
    return readVolume(this.options.namespace, name);
  }

  /** kubectl apply of a ReplicatedVolume with this spec, then waits for Ready. */
  async createVolume(name: string, spec: object): Promise<void> {
    await kubectlOk(['-n', this.options.namespace, 'apply', '-f', '-'], JSON.stringify({
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', metadata: { name }, spec,
    }));
    await waitFor(`${name} to be Ready`, async () => ((await this.volume(name)).status?.phase === 'Ready' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
  }

  /** The folder of the volume's files on a site. */
  volumeDir(node: string, name: string): string {
    return join(this.agent(node).dataDir, 'volumes', `${this.options.namespace}__${name}`);
  }

  /** The volume's data file on a site. */
  dataPath(node: string, name: string): string {
    return join(this.volumeDir(node, name), 'data.img');
  }

  /** A site's NBD address, as the EndpointSlice lists it. */
  endpoint(node: string): string {
    return `${this.agent(node).host}:${this.agent(node).nbdPort}`;
  }

  nbdUri(node: string, name: string): string {
    return `nbd://${this.endpoint(node)}/${this.options.namespace}/${name}`;
  }

  /** What a site's agent reports about the volume (undefined if it holds none). */
  async replica(node: string, name: string): Promise<VolumeStatus | undefined> {
    return (await this.agent(node).status()).volumes.find((v) => v.volume === `${this.options.namespace}/${name}`);
  }

  /** test/support/verifiable-writer.py through a site's NBD port, recording every acknowledged write in `ackLog`. */
  writer(node: string, name: string, ackLog: string, options: WriterOptions): Promise<ClientRun> {
    return runClient('/usr/bin/python3', [
      join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', this.nbdUri(node, name), '--ack-log', ackLog,
      '--blocks', String(options.blocks), '--seconds', String(options.seconds), '--seed', String(options.seed),
      ...(options.writes === undefined ? [] : ['--writes', String(options.writes)]), ...(options.reconnect === true ? ['--reconnect'] : []),
    ], { timeoutMs: (options.seconds + 30) * 1000 });
  }

  /**
   * test/support/verifiable-writer.py in the background through any NBD URI (a Service proxy,
   * say), reconnecting when its server goes away; stop it with SIGTERM and await `exited`.
   */
  spawnWriter(uri: string, ackLog: string, options: WriterOptions): BackgroundWriter {
    const child = spawn('/usr/bin/python3', [
      join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', uri, '--ack-log', ackLog,
      '--blocks', String(options.blocks), '--seconds', String(options.seconds), '--seed', String(options.seed), '--reconnect',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.writers.push(child);
    return { child, exited, output };
  }

  async stop(): Promise<void> {
    for (const writer of this.writers) writer.kill('SIGKILL');
    this.operatorProcess?.process.child.kill('SIGCONT');
    await this.link.restore().catch(() => undefined);
    if (this.operatorProcess?.alive() === true) {
      await kubectl(['-n', this.options.namespace, 'delete', 'replicatedvolumes', '--all', '--timeout', '30s', '--wait=false']);
    }
    await this.operatorProcess?.stop();
    for (const agent of this.agents.values()) agent.process.child.kill('SIGCONT');
    await Promise.all([...this.agents.values()].map((a) => a.stop()));
    await this.apiserverRelay?.close();
    await this.network.destroy();
    for (const node of this.options.sites) await ensureReadyNode(node).catch(() => undefined);
    await rm(this.baseDir, { recursive: true, force: true });
  }
}

/** Lines in an acknowledgement log: the writes a writer saw acknowledged so far. */
export async function acknowledged(ackLog: string): Promise<number> {
  return (await readFile(ackLog, 'utf8').catch(() => '')).split('\n').length - 1;
}
