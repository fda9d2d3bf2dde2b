// The demo's cluster: a control plane (started here, or an existing one named by
// BUNKER_DEMO_KUBECONFIG), Bunker's Helm chart, three Node objects, the sites' network, one
// bunker-agent per site and the operator, all as local processes (there is no kubelet to run
// the chart's pods). Everything it starts is recorded in the state file and stopped by close().
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type AgentProcess } from '../../test/support/agent-process.js';
import { controlPlaneBinDir, repoRoot, startControlPlane, type ControlPlane } from '../../test/support/control-plane.js';
import { runCommand } from '../../test/support/kubectl.js';
import { buildWorkspace, ensureReadyNode, markNodeNotReady, startOperator, type OperatorProcess } from '../../test/support/operator-process.js';
import { freePort } from '../../test/support/free-port.js';
import { startApiserverRelay, startDelayRelay, type TcpRelay } from '../../test/support/tcp-relay.js';
import { canUseNetns, createSiteNetwork, type Site, type SiteNetwork } from './network.js';
import type { StateFile } from './state.js';
import { say } from './ui.js';

export const SITES = ['site-a', 'site-b', 'site-c'] as const;
export type SiteName = (typeof SITES)[number];
export const OPERATOR_NAMESPACE = 'bunker-system';
const GRPC_PORT = 7443;
const NBD_PORT = 10809;

export interface ClusterOptions {
  readonly subnet: number;
  readonly volumeNamespace: string;
  readonly farDelayMs: number;
  /** Keep data here (not removed at the end) instead of a temporary folder. */
  readonly dataDir?: string;
  readonly state: StateFile;
}

export class DemoCluster {
  kubeconfig = '';
  baseDir = '';
  binDir = '';
  controlPlane: ControlPlane | undefined;
  network: SiteNetwork | undefined;
  operator: OperatorProcess | undefined;
  readonly agents = new Map<string, AgentProcess>();
  /** What the far link's delay is made of, once set up. */
  farLink = '';
  private readonly relays: TcpRelay[] = [];
  private agentKubeconfig = '';
  private readonly agentArgs = new Map<string, { host: string; grpcPort?: number; nbdPort?: number; netns?: string; extraArgs?: string[] }>();
  private operatorPaused = false;
  private ownsBaseDir = false;

  constructor(private readonly options: ClusterOptions) {}

  /** Step 1: the control plane. */
  async startControlPlane(): Promise<void> {
    const existing = process.env['BUNKER_DEMO_KUBECONFIG'];
    if (existing !== undefined && existing !== '') {
      this.kubeconfig = existing;
      this.binDir = await controlPlaneBinDir();
      say(`using the existing control plane of BUNKER_DEMO_KUBECONFIG (${existing})`);
    } else {
      say('building or reusing the cached etcd, kube-apiserver and helm (first run: about 8 minutes)');
      this.controlPlane = await startControlPlane();
      this.options.state.addDir(this.controlPlane.dir);
      this.kubeconfig = this.controlPlane.kubeconfigPath;
      this.binDir = this.controlPlane.binDir;
      say(`etcd and kube-apiserver running on loopback: ${this.controlPlane.apiServerUrl}`);
    }
    // test/support's kubectl helpers read the kubeconfig from here.
    process.env['BUNKER_TEST_KUBECONFIG'] = this.kubeconfig;
    if (this.options.dataDir !== undefined) {
      this.baseDir = this.options.dataDir;
      await mkdir(this.baseDir, { recursive: true });
    } else {
      this.baseDir = await mkdtemp(join(tmpdir(), 'bunker-demo-'));
      this.ownsBaseDir = true;
      this.options.state.addDir(this.baseDir);
    }
    say(`export KUBECONFIG=${this.kubeconfig}`);
  }

  /** Step 2: chart, build, Nodes, network, agents, operator. */
  async install(): Promise<void> {
    say('helm upgrade --install bunker charts/bunker -n bunker-system (CRD, RBAC, operator Deployment, agent DaemonSet)');
    const helm = await runCommand(join(this.binDir, 'helm'), [
      'upgrade', '--install', 'bunker', join(repoRoot, 'charts/bunker'), '--namespace', OPERATOR_NAMESPACE, '--create-namespace', '--kubeconfig', this.kubeconfig,
    ], { timeoutMs: 120_000 });
    if (helm.code !== 0) throw new Error(`helm install failed:\n${helm.stderr}`);
    say('there is no kubelet here to run the chart\'s pods: the operator and the three agents run as local processes instead, started below from the built workspace');
    say('building the agent and the operator (tsc -b)');
    await buildWorkspace().catch((error: unknown) => {
      // tsc prints its errors on stdout; npm's warnings on stderr say nothing.
      const out = typeof error === 'object' && error !== null && 'stdout' in error ? String(error.stdout) : '';
      throw new Error(`npx tsc -b failed:\n${out.trim() || (error instanceof Error ? error.message : String(error))}`);
    });
    for (const site of SITES) await ensureReadyNode(site);
    say(`Node objects ${SITES.join(', ')} created, Ready (set here, as a kubelet would report it)`);

    const netns = await canUseNetns();
    let host: (site: string) => string = () => '127.0.0.1';
    if (netns) {
      this.network = await createSiteNetwork(this.options.subnet, SITES);
      const relay = await startApiserverRelay(this.kubeconfig, this.network.bridgeIp, join(this.baseDir, 'agents.kubeconfig'));
      this.relays.push(relay);
      this.agentKubeconfig = relay.kubeconfigPath;
      const sites = this.network.sites;
      host = (site) => this.site(site).ip;
      say(`each agent in its own network namespace on bridge ${this.network.bridge} (${this.network.bridgeIp}): ${sites.map((s) => `${s.name}=${s.ip}`).join(', ')}; ` +
        `agents reach the apiserver through a relay on ${relay.host}:${relay.port}`);
    } else {
      this.agentKubeconfig = this.kubeconfig;
      say('not root (or no network namespaces here): the agents listen on 127.0.0.1; a site\'s network cannot be cut, only its agent killed, and the apiserver refuses loopback addresses in the volume\'s EndpointSlice');
    }
    for (const site of SITES) {
      this.agentArgs.set(site, netns
        ? { host: host(site), grpcPort: GRPC_PORT, nbdPort: NBD_PORT, netns: this.site(site).netns }
        : { host: host(site) });
    }
    await this.farLinkDelay();
    for (const site of SITES) await this.startAgent(site);
    say(`agents: ${SITES.map((s) => `${s} gRPC ${this.agent(s).grpcAddress} NBD ${this.agent(s).host}:${this.agent(s).nbdPort}`).join('; ')}`);
    await this.startOperator();
    say(`operator running (pid ${this.operator?.process.pid}), watching namespace ${this.options.volumeNamespace}; logs in ${this.baseDir}`);
  }

  private async farLinkDelay(): Promise<void> {
    const far = SITES[2];
    const delay = this.options.farDelayMs;
    if (delay <= 0) {
      this.farLink = 'no delay';
      say(`far link to ${far}: no delay asked (--far-delay-ms 0)`);
      return;
    }
    if (this.network !== undefined) {
      try {
        await this.network.netemDelay(this.site(far), delay);
        this.farLink = `netem ${delay} ms each way`;
        say(`far link to ${far}: tc netem delay ${delay} ms each way`);
        return;
      } catch (error) {
        const why = error instanceof Error ? (error.message.split('\n').find((l) => /Error|unknown/i.test(l)) ?? error.message) : String(error);
        say(`tc qdisc add … netem failed (${why.trim()}): this kernel has no sch_netem`);
      }
    }
    const args = this.agentArgs.get(far);
    if (args === undefined) throw new Error(`no agent settings for ${far}`);
    // The far agent listens on a port known in advance, so that it can announce the relay's address.
    args.grpcPort ??= await freePort();
    const relayHost = this.network?.bridgeIp ?? '127.0.0.1';
    const relay = await startDelayRelay(relayHost, { host: args.host, port: args.grpcPort }, delay);
    this.relays.push(relay);
    args.extraArgs = ['--advertise-grpc', `${relay.host}:${relay.port}`];
    this.farLink = `user-space delay relay ${delay} ms each way`;
    say(`far link to ${far}: a user-space delay relay (${delay} ms each way) on ${relay.host}:${relay.port} in front of its gRPC port, which ${far} announces to its peers`);
  }

  site(name: string): Site {
    const found = this.network?.sites.find((s) => s.name === name);
    if (found === undefined) throw new Error(`no network namespace for ${name}`);
    return found;
  }

  agent(name: string): AgentProcess {
    const found = this.agents.get(name);
    if (found === undefined) throw new Error(`no agent on ${name}`);
    return found;
  }

  dataPath(site: string, volume: string): string {
    return join(this.baseDir, site, 'volumes', `${this.options.volumeNamespace}__${volume}`, 'data.img');
  }

  async startAgent(site: string): Promise<AgentProcess> {
    const args = this.agentArgs.get(site);
    if (args === undefined) throw new Error(`no agent settings for ${site}`);
    const agent = await startAgent({
      node: site, baseDir: this.baseDir, kubeconfig: this.agentKubeconfig, namespace: OPERATOR_NAMESPACE, host: args.host,
      ...(args.grpcPort === undefined ? {} : { grpcPort: args.grpcPort }),
      ...(args.nbdPort === undefined ? {} : { nbdPort: args.nbdPort }),
      ...(args.netns === undefined ? {} : { netns: args.netns }),
      ...(args.extraArgs === undefined ? {} : { extraArgs: args.extraArgs }),
    });
    // Restarts keep the ports (the relay and the EndpointSlice name them).
    args.grpcPort = Number(agent.grpcAddress.slice(agent.grpcAddress.lastIndexOf(':') + 1));
    args.nbdPort = agent.nbdPort;
    this.agents.set(site, agent);
    this.options.state.addProcess(`agent ${site}`, agent.process.pid, 'bunker-agent');
    return agent;
  }

  async killAgent(site: string): Promise<void> {
    await this.agent(site).kill();
    this.agents.delete(site);
  }

  async startOperator(): Promise<void> {
    this.operator = await startOperator({
      identity: 'demo', baseDir: this.baseDir, kubeconfig: this.kubeconfig, namespace: OPERATOR_NAMESPACE,
      volumeNamespaces: [this.options.volumeNamespace], leaderElect: true,
    });
    this.options.state.addProcess('operator', this.operator.process.pid, 'bunker-operator');
  }

  pauseOperator(): void {
    this.operator?.process.child.kill('SIGSTOP');
    this.operatorPaused = true;
  }

  resumeOperator(): void {
    this.operator?.process.child.kill('SIGCONT');
    this.operatorPaused = false;
  }

  markNotReady(site: string): Promise<void> {
    return markNodeNotReady(site);
  }

  markReady(site: string): Promise<void> {
    return ensureReadyNode(site);
  }

  /** Stops everything this run started, removes its network and (unless given) its data. */
  async close(): Promise<void> {
    if (this.operatorPaused) this.resumeOperator();
    for (const site of this.network?.sites ?? []) await site.restore().catch(() => undefined);
    await this.operator?.stop().catch(() => undefined);
    await Promise.all([...this.agents.values()].map((a) => a.stop().catch(() => undefined)));
    this.agents.clear();
    for (const relay of this.relays) await relay.close().catch(() => undefined);
    await this.network?.destroy().catch(() => undefined);
    await this.controlPlane?.stop().catch(() => undefined);
    if (this.ownsBaseDir && this.baseDir !== '') await rm(this.baseDir, { recursive: true, force: true });
  }
}

