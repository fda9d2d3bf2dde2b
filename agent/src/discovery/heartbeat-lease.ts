// An agent announces itself with one coordination.k8s.io/v1 Lease per node in the operator's
// namespace, annotated with where to reach it. The operator treats an expired Lease as one of
// the signs that the node's primary has failed, so renewal must be steady and cheap: one
// read-modify-replace per renewal, a third of the lease duration apart.
import { CoordinationV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { microTime } from '@bunker/proto/micro-time';

export const LEASE_ANNOTATIONS = {
  grpcAddress: 'replication.bunker.dev/grpc-address',
  nbdHost: 'replication.bunker.dev/nbd-host',
  capacityBytes: 'replication.bunker.dev/capacity-bytes',
  agentVersion: 'replication.bunker.dev/agent-version',
} as const;

export const AGENT_LEASE_PREFIX = 'bunker-agent-';

export interface HeartbeatOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly node: string;
  readonly grpcAddress: string;
  readonly nbdHost: string;
  readonly capacityBytes: number;
  readonly agentVersion: string;
  readonly leaseDurationSeconds: number;
  readonly onError?: (error: unknown) => void;
  readonly onRenewed?: (lease: V1Lease) => void;
}

export function agentLeaseName(node: string): string {
  return `${AGENT_LEASE_PREFIX}${node}`;
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 404;
}

export class HeartbeatLease {
  private readonly api: CoordinationV1Api;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: HeartbeatOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  /** Renews once now (so start-up fails loudly on bad credentials), then on a timer. */
  async start(): Promise<void> {
    await this.renew();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    const intervalMs = Math.max(200, (this.options.leaseDurationSeconds * 1000) / 3);
    this.timer = setTimeout(() => {
      this.renew().catch((error: unknown) => this.options.onError?.(error)).finally(() => this.schedule());
    }, intervalMs);
  }

  async renew(): Promise<V1Lease> {
    const { namespace, node } = this.options;
    const name = agentLeaseName(node);
    try {
      await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await this.api.createNamespacedLease({
        namespace,
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: { holderIdentity: node } },
      });
    }
    const now = microTime(new Date());
    const patch = {
      metadata: {
        labels: { 'app.kubernetes.io/component': 'agent', 'replication.bunker.dev/node': node },
        annotations: {
          [LEASE_ANNOTATIONS.grpcAddress]: this.options.grpcAddress,
          [LEASE_ANNOTATIONS.nbdHost]: this.options.nbdHost,
          [LEASE_ANNOTATIONS.capacityBytes]: String(this.options.capacityBytes),
          [LEASE_ANNOTATIONS.agentVersion]: this.options.agentVersion,
        },
      },
      spec: { holderIdentity: node, leaseDurationSeconds: this.options.leaseDurationSeconds, renewTime: now },
    };
    const renewed = await this.api.patchNamespacedLease({ name, namespace, body: patch }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    this.options.onRenewed?.(renewed);
    return renewed;
  }
}
