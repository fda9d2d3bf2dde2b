// An agent announces itself with one coordination.k8s.io/v1 Lease per node in the operator's
// namespace, annotated with where to reach it. The operator treats an expired Lease as one of
// the signs that the node's primary has failed, so renewal must be steady and cheap: one
// read-modify-replace per renewal, a third of the lease duration apart.
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';

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
    const now = new Date();
    const annotations = {
      [LEASE_ANNOTATIONS.grpcAddress]: this.options.grpcAddress,
      [LEASE_ANNOTATIONS.nbdHost]: this.options.nbdHost,
      [LEASE_ANNOTATIONS.capacityBytes]: String(this.options.capacityBytes),
      [LEASE_ANNOTATIONS.agentVersion]: this.options.agentVersion,
    };
    let current: V1Lease | undefined;
    try {
      current = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...(current?.metadata ?? {}),
        name,
        namespace,
        labels: { ...(current?.metadata?.labels ?? {}), 'app.kubernetes.io/component': 'agent', 'replication.bunker.dev/node': node },
        annotations: { ...(current?.metadata?.annotations ?? {}), ...annotations },
      },
      spec: {
        holderIdentity: node,
        leaseDurationSeconds: this.options.leaseDurationSeconds,
        renewTime: now,
        acquireTime: current?.spec?.acquireTime ?? now,
      },
    };
    const renewed = current === undefined
      ? await this.api.createNamespacedLease({ namespace, body })
      : await this.api.replaceNamespacedLease({ name, namespace, body });
    this.options.onRenewed?.(renewed);
    return renewed;
  }
}
