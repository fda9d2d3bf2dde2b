// One operator test's world, started in beforeAll and stopped in afterAll: the workspace
// built, the CRD installed, the operator's and the volumes' namespaces, a Ready Node and an
// agent per site (all on one veth link address: the apiserver refuses loopback endpoints),
// and the operator. Each test file uses its own node names, namespaces and subnet, so files
// running one after another against the same control plane never touch each other's objects.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReplicatedVolume } from '../../operator/src/api/index.js';
import { startAgent, type AgentProcess } from './agent-process.js';
import { testCluster } from './cluster.js';
import { repoRoot } from './control-plane.js';
import { kubectl } from './kubectl.js';
import { runClient, type ClientRun } from './nbd-clients.js';
import {
  buildWorkspace, ensureNamespace, ensureReadyNode, installCrd, kubectlOk, readVolume, startOperator, testLinkAddress, type OperatorProcess,
} from './operator-process.js';
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
}

export interface WriterOptions {
  readonly blocks: number;
  readonly seconds: number;
  readonly seed: number;
  readonly writes?: number;
  readonly reconnect?: boolean;
}

export class OperatorTestbed {
  private readonly agents = new Map<string, AgentProcess>();
  private operatorProcess: OperatorProcess | undefined;

  private constructor(
    readonly options: TestbedOptions,
    readonly baseDir: string,
    private readonly link: { readonly host: string; destroy(): Promise<void> },
  ) {}

  static async start(options: TestbedOptions): Promise<OperatorTestbed> {
    await buildWorkspace();
    await installCrd();
    await ensureNamespace(options.operatorNamespace);
    await ensureNamespace(options.namespace);
    for (const node of options.sites) await ensureReadyNode(node);
    const baseDir = await mkdtemp(join(tmpdir(), `bunker-operator-${options.name}-`));
    const testbed = new OperatorTestbed(options, baseDir, await testLinkAddress(options.subnet));
    for (const node of options.sites) await testbed.startAgent(node);
    await testbed.startOperator();
    return testbed;
  }

  agent(node: string): AgentProcess {
    const found = this.agents.get(node);
    if (found === undefined) throw new Error(`no agent runs on ${node}`);
    return found;
  }

  /** Starts (or restarts, with its data) the agent of a site. */
  async startAgent(node: string): Promise<AgentProcess> {
    const agent = await startAgent({
      node, baseDir: this.baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: this.options.operatorNamespace, host: this.link.host,
      extraArgs: this.options.agentArgs?.(node, this.baseDir) ?? [],
    });
    this.agents.set(node, agent);
    return agent;
  }

  /** SIGKILL: the agent's files stay as a crash leaves them. */
  async killAgent(node: string): Promise<void> {
    await this.agent(node).kill();
    this.agents.delete(node);
  }

  async startOperator(): Promise<void> {
    this.operatorProcess = await startOperator({
      identity: this.options.name, baseDir: this.baseDir, kubeconfig: testCluster().kubeconfigPath, namespace: this.options.operatorNamespace,
      volumeNamespaces: [this.options.namespace], leaderElect: false,
    });
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

  /** The volume's data file on a site. */
  dataPath(node: string, name: string): string {
    return join(this.agent(node).dataDir, 'volumes', `${this.options.namespace}__${name}`, 'data.img');
  }

  nbdUri(node: string, name: string): string {
    return `nbd://${this.agent(node).host}:${this.agent(node).nbdPort}/${this.options.namespace}/${name}`;
  }

  /** test/support/verifiable-writer.py through a site's NBD port, recording every acknowledged write in `ackLog`. */
  writer(node: string, name: string, ackLog: string, options: WriterOptions): Promise<ClientRun> {
    return runClient('/usr/bin/python3', [
      join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', this.nbdUri(node, name), '--ack-log', ackLog,
      '--blocks', String(options.blocks), '--seconds', String(options.seconds), '--seed', String(options.seed),
      ...(options.writes === undefined ? [] : ['--writes', String(options.writes)]), ...(options.reconnect === true ? ['--reconnect'] : []),
    ], { timeoutMs: (options.seconds + 30) * 1000 });
  }

  async stop(): Promise<void> {
    if (this.operatorProcess?.alive() === true) {
      await kubectl(['-n', this.options.namespace, 'delete', 'replicatedvolumes', '--all', '--timeout', '30s', '--wait=false']);
    }
    await this.operatorProcess?.stop();
    for (const agent of this.agents.values()) agent.process.child.kill('SIGCONT');
    await Promise.all([...this.agents.values()].map((a) => a.stop()));
    await this.link.destroy();
    for (const node of this.options.sites) await ensureReadyNode(node).catch(() => undefined);
    await rm(this.baseDir, { recursive: true, force: true });
  }
}

/** Lines in an acknowledgement log: the writes a writer saw acknowledged so far. */
export async function acknowledged(ackLog: string): Promise<number> {
  return (await readFile(ackLog, 'utf8').catch(() => '')).split('\n').length - 1;
}
