// Two operator replicas, one leader, chosen by a coordination.k8s.io/v1 Lease. The leader
// renews every `renewIntervalMs`; a follower takes the Lease once it has gone unrenewed for
// `leaseDurationSeconds` (measured on the follower's own clock from when it last saw the
// renewTime change, so clock skew between replicas does not matter). Writes use the Lease's
// resourceVersion, so two candidates can never both win: one gets a 409 Conflict.
import { CoordinationV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { microTime, microTimeMs } from '@bunker/proto/micro-time';

export interface LeaderElectionOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly leaseName: string;
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  readonly renewIntervalMs: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly onError?: (error: unknown) => void;
  readonly now?: () => number;
}

function statusCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

export class LeaderElection {
  private readonly api: CoordinationV1Api;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private observedRenew = '';
  private observedAtMs = 0;

  constructor(private readonly options: LeaderElectionOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.round();
  }

  /**
   * Stops campaigning. By default a leader gives the Lease up so the other replica need not
   * wait it out; `release: false` leaves it to expire, as a crash would.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.leading && options.release === false) {
      this.setLeading(false);
    } else if (this.leading) {
      this.setLeading(false);
      await this.release().catch((error: unknown) => this.options.onError?.(error));
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    try {
      this.setLeading(await this.tryAcquireOrRenew());
    } catch (error) {
      this.options.onError?.(error);
      // A leader that cannot renew must assume it lost the Lease once it would have expired.
      if (this.leading && this.now() - this.observedAtMs > this.options.leaseDurationSeconds * 1000) this.setLeading(false);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.round(), this.options.renewIntervalMs);
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) this.options.onStartedLeading();
    else this.options.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, leaseName: name, identity } = this.options;
    let current: V1Lease;
    try {
      current = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      // Created without times (see microTime); the patch below stamps them.
      current = await this.api.createNamespacedLease({
        namespace,
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: { holderIdentity: identity, leaseTransitions: 0 } },
      });
    }
    const renew = String(microTimeMs(current.spec?.renewTime) ?? '');
    if (renew !== this.observedRenew) {
      this.observedRenew = renew;
      this.observedAtMs = this.now();
    }
    const holder = current.spec?.holderIdentity ?? '';
    const expired = this.now() - this.observedAtMs > this.options.leaseDurationSeconds * 1000;
    if (holder !== identity && holder !== '' && !expired) return false;
    const transitions = (current.spec?.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    try {
      const updated = await this.patch(this.leasePatch(current, transitions));
      this.observedRenew = String(microTimeMs(updated.spec?.renewTime) ?? '');
      this.observedAtMs = this.now();
      return true;
    } catch (error) {
      if (statusCode(error) === 409) return false;
      throw error;
    }
  }

  /** A merge patch made conditional on the Lease's resourceVersion: a lost race is a 409. */
  private leasePatch(current: V1Lease, transitions: number): object {
    const now = microTime(new Date(this.now()));
    const holderChanges = current.spec?.holderIdentity !== this.options.identity || current.spec?.acquireTime === undefined;
    return {
      metadata: { resourceVersion: current.metadata?.resourceVersion },
      spec: {
        holderIdentity: this.options.identity,
        leaseDurationSeconds: this.options.leaseDurationSeconds,
        renewTime: now,
        ...(holderChanges ? { acquireTime: now } : {}),
        leaseTransitions: transitions,
      },
    };
  }

  private patch(body: object): Promise<V1Lease> {
    const { namespace, leaseName: name } = this.options;
    return this.api.patchNamespacedLease({ name, namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  private async release(): Promise<void> {
    const { namespace, leaseName: name } = this.options;
    const current = await this.api.readNamespacedLease({ name, namespace });
    if (current.spec?.holderIdentity !== this.options.identity) return;
    await this.patch({ metadata: { resourceVersion: current.metadata?.resourceVersion }, spec: { holderIdentity: '', leaseDurationSeconds: 1 } });
  }
}
