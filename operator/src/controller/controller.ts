// The controller: three watched caches (ReplicatedVolumes, the agents' heartbeat Leases in
// the operator's namespace, Nodes), one de-duplicating work queue of volume keys, and a few
// workers that reconcile one key at a time each (never the same key twice at once: the
// queue guarantees it). Every watch event only enqueues keys; what to do is decided by
// reconcile() from the whole current state (level-based). RequeueAfter comes from plan();
// failures are retried with per-key backoff. Nothing polls on a timer.
import { CoordinationV1Api, CoreV1Api, type KubeConfig, type KubernetesObject, type V1Lease, type V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { BunkerError } from '@bunker/proto/bunker-error';
import { API_GROUP, API_VERSION, PLURAL, tryParseReplicatedVolume, type Phase } from '../api/index.js';
import type { AgentPort } from '../agents/agent-port.js';
import { AGENT_LEASE_SELECTOR, agentFactsFromLease, agentLeaseName, nodeOfAgentLease } from '../discovery/agent-lease.js';
import { nodeFactsFromNode } from '../discovery/node-facts.js';
import { kubeCall } from '../kube/api-errors.js';
import { EventRecorder } from '../kube/event-recorder.js';
import { OwnedObjectClient } from '../kube/owned-object-client.js';
import { VolumeClient } from '../kube/volume-client.js';
import type { OperatorMetrics } from '../observability/operator-metrics.js';
import type { ClusterView } from '../reconcile/observe.js';
import { reconcile, type ReconcileDeps, type ReconcileResult } from '../reconcile/reconcile.js';
import { FailureBackoff } from './failure-backoff.js';
import { FingerprintMemory, objectName, volumesOnNode } from './node-index.js';
import { WatchedCache } from './watched-cache.js';
import { WorkQueue } from './work-queue.js';

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  /** Where the agents' Leases live (and the operator runs). */
  readonly operatorNamespace: string;
  /** Namespaces whose volumes are reconciled; empty: all namespaces. */
  readonly volumeNamespaces: readonly string[];
  readonly identity: string;
  readonly agents: AgentPort;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
  readonly workers: number;
  readonly keysMax: number;
  readonly now?: () => number;
}

export class Controller {
  private readonly queue: WorkQueue;
  private readonly volumeCaches: ReadonlyMap<string, WatchedCache<KubernetesObject>>;
  private readonly leases: WatchedCache<V1Lease>;
  private readonly nodes: WatchedCache<V1Node>;
  private readonly leaseMemory = new FingerprintMemory();
  private readonly nodeMemory = new FingerprintMemory();
  private readonly backoff = new FailureBackoff();
  private readonly deps: ReconcileDeps;
  private workers: Promise<void>[] = [];
  private stopped = false;

  constructor(private readonly options: ControllerOptions) {
    const { kubeConfig, logger, operatorNamespace } = options;
    this.queue = new WorkQueue({ keysMax: options.keysMax });
    const volumeClient = new VolumeClient(kubeConfig);
    const scopes = options.volumeNamespaces.length === 0 ? [''] : options.volumeNamespaces;
    this.volumeCaches = new Map(scopes.map((namespace) => [namespace, new WatchedCache<KubernetesObject>({
      name: `replicatedvolumes${namespace === '' ? '' : ` in ${namespace}`}`, kubeConfig, logger,
      path: `/apis/${API_GROUP}/${API_VERSION}${namespace === '' ? '' : `/namespaces/${namespace}`}/${PLURAL}`,
      list: () => volumeClient.list(namespace === '' ? undefined : namespace),
      onChange: (object) => this.enqueueVolume(object),
    })]));
    const coordination = kubeConfig.makeApiClient(CoordinationV1Api);
    this.leases = new WatchedCache<V1Lease>({
      name: 'agent leases', kubeConfig, logger, labelSelector: AGENT_LEASE_SELECTOR,
      path: `/apis/coordination.k8s.io/v1/namespaces/${operatorNamespace}/leases`,
      list: () => kubeCall('list agent Leases', () => coordination.listNamespacedLease({ namespace: operatorNamespace, labelSelector: AGENT_LEASE_SELECTOR })),
      onChange: (lease, verb) => this.onLease(lease, verb),
    });
    const core = kubeConfig.makeApiClient(CoreV1Api);
    this.nodes = new WatchedCache<V1Node>({
      name: 'nodes', kubeConfig, logger, path: '/api/v1/nodes',
      list: () => kubeCall('list Nodes', () => core.listNode()),
      onChange: (node, verb) => this.onNode(node, verb),
    });
    this.deps = {
      cluster: this.clusterView(), agents: options.agents, now: options.now ?? Date.now,
      volumes: volumeClient, status: volumeClient, owned: new OwnedObjectClient(kubeConfig),
      events: new EventRecorder(kubeConfig, options.identity), logger,
    };
  }

  /** Starts the caches, waits until each has listed once, then the workers. */
  async start(): Promise<void> {
    const caches = [...this.volumeCaches.values(), this.leases, this.nodes];
    await Promise.all(caches.map((cache) => cache.start()));
    await Promise.all(caches.map((cache) => cache.whenSynced()));
    if (this.stopped) return;
    this.options.metrics.source(() => this.queue.depth, () => this.phases());
    this.workers = Array.from({ length: this.options.workers }, () => this.work());
    this.options.logger.info({ workers: this.options.workers, volumeNamespaces: this.options.volumeNamespaces }, 'controller started');
  }

  /** Stops watching and taking keys; resolves when in-flight reconciles have finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.volumeCaches.values(), this.leases, this.nodes].map((cache) => cache.stop()));
    this.queue.shutDown();
    await Promise.all(this.workers);
    this.options.metrics.source(() => 0, () => new Map());
    this.options.logger.info('controller stopped');
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.next();
      if (key === undefined) return;
      try {
        await this.reconcileKey(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async reconcileKey(key: string): Promise<void> {
    const { metrics, logger } = this.options;
    const stopTimer = metrics.reconcileSeconds.startTimer();
    try {
      const result = await reconcile(key, this.deps);
      this.backoff.succeeded(key);
      metrics.reconciles.inc({ result: resultLabel(result) });
      if (result.kind !== 'reconciled') return;
      if (result.failure !== null) metrics.reconcileErrors.inc({ reason: result.failure.reason });
      this.queue.addAfter(key, result.requeueAfterMs);
    } catch (error) {
      const reason = BunkerError.is(error) ? error.code : 'Internal';
      metrics.reconciles.inc({ result: 'error' });
      metrics.reconcileErrors.inc({ reason });
      const delayMs = this.backoff.failed(key, reason === 'Conflict');
      const log = reason === 'Conflict' ? logger.debug.bind(logger) : logger.warn.bind(logger);
      log({ volume: key, err: error, reason, retryInMs: delayMs }, 'reconcile failed; retrying');
      this.queue.addAfter(key, delayMs);
    } finally {
      stopTimer();
    }
  }

  private enqueue(key: string): void {
    if (!this.queue.add(key)) this.options.logger.warn({ volume: key, keysMax: this.options.keysMax }, 'work queue full; the key waits for its next event');
  }

  private enqueueVolume(object: KubernetesObject): void {
    const name = object.metadata?.name;
    const namespace = object.metadata?.namespace;
    if (name !== undefined && namespace !== undefined) this.enqueue(`${namespace}/${name}`);
  }

  private enqueueNode(node: string): void {
    for (const key of volumesOnNode(this.allVolumes(), node)) this.enqueue(key);
  }

  private onLease(lease: V1Lease, verb: 'add' | 'update' | 'delete'): void {
    const node = nodeOfAgentLease(objectName(lease));
    if (node === undefined) return;
    const facts = agentFactsFromLease(lease);
    const fingerprint = verb === 'delete' || facts.kind !== 'lease' ? undefined : `${facts.grpcAddress}|${facts.nbdHost}`;
    if (this.leaseMemory.changed(node, fingerprint) || verb !== 'update') this.enqueueNode(node);
  }

  private onNode(node: V1Node, verb: 'add' | 'update' | 'delete'): void {
    const name = objectName(node);
    const fingerprint = verb === 'delete' ? undefined : JSON.stringify(nodeFactsFromNode(node));
    if (this.nodeMemory.changed(name, fingerprint) || verb !== 'update') this.enqueueNode(name);
  }

  private allVolumes(): KubernetesObject[] {
    return [...this.volumeCaches.values()].flatMap((cache) => cache.list());
  }

  private clusterView(): ClusterView {
    return {
      volume: (namespace, name) => (this.volumeCaches.get(namespace) ?? this.volumeCaches.get(''))?.get(name, namespace),
      node: (name) => this.nodes.get(name),
      agentLease: (node) => this.leases.get(agentLeaseName(node), this.options.operatorNamespace),
    };
  }

  private phases(): ReadonlyMap<Phase, number> {
    const counts = new Map<Phase, number>();
    for (const raw of this.allVolumes()) {
      const parsed = tryParseReplicatedVolume(raw);
      const phase = parsed.ok ? parsed.value.status?.phase : undefined;
      if (phase !== undefined) counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    return counts;
  }
}

function resultLabel(result: ReconcileResult): 'ready' | 'progressing' | 'action-failed' | 'gone' | 'invalid' {
  if (result.kind !== 'reconciled') return result.kind;
  if (result.failure !== null) return 'action-failed';
  return result.phase === 'Ready' ? 'ready' : 'progressing';
}
