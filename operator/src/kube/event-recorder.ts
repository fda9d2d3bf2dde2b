// core/v1 Events about a volume, named deterministically from what they say, so that the
// same Event raised twice (a reconcile retried after a status conflict, a problem that comes
// back) bumps the count of one object instead of piling up new ones, as kubectl describe
// shows them. Events are best effort, as in every controller: a failure is logged by the
// caller, never retried and never allowed to fail the reconcile.
import { createHash } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import { API_GROUP_VERSION, KIND, type ReplicatedVolume } from '../api/index.js';
import type { EventSpec } from '../reconcile/actions.js';
import { httpStatus, kubeCall, KubeApiError } from './api-errors.js';

const COMPONENT = 'bunker-operator';
const COUNTS_MAX = 4_096;

export class EventRecorder {
  private readonly core: CoreV1Api;
  /** Repeat counts by Event name, oldest forgotten first past COUNTS_MAX. */
  private readonly counts = new Map<string, number>();

  constructor(kubeConfig: KubeConfig, private readonly instance: string, private readonly now: () => number = Date.now) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  async record(volume: ReplicatedVolume, event: EventSpec): Promise<void> {
    const { namespace } = volume.metadata;
    const name = eventName(volume, event);
    const at = new Date(this.now());
    try {
      await this.core.createNamespacedEvent({ namespace, body: this.newEvent(volume, event, name, at) });
    } catch (error) {
      if (httpStatus(error) !== 409) throw new KubeApiError(`create Event ${namespace}/${name}`, error);
      const count = this.nextCount(name);
      const body = { count, lastTimestamp: at.toISOString() };
      await kubeCall(`update Event ${namespace}/${name}`, () => this.core.patchNamespacedEvent(
        { name, namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ));
    }
  }

  // Counted here rather than read back: the operator's RBAC grants create and patch on
  // Events, not get. After a restart the count starts again from what this process saw.
  private nextCount(name: string): number {
    const count = (this.counts.get(name) ?? 1) + 1;
    this.counts.delete(name);
    this.counts.set(name, count);
    if (this.counts.size > COUNTS_MAX) {
      const oldest = this.counts.keys().next().value;
      if (oldest !== undefined) this.counts.delete(oldest);
    }
    return count;
  }

  private newEvent(volume: ReplicatedVolume, event: EventSpec, name: string, at: Date): CoreV1Event {
    const { namespace, uid, resourceVersion } = volume.metadata;
    return {
      metadata: { name, namespace },
      involvedObject: { apiVersion: API_GROUP_VERSION, kind: KIND, name: volume.metadata.name, namespace, uid, resourceVersion },
      type: event.type,
      reason: event.reason,
      message: event.message.slice(0, 1024),
      source: { component: COMPONENT },
      reportingComponent: COMPONENT,
      reportingInstance: this.instance,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
  }
}

/** <volume>.<hash of uid, type, reason, message>: one Event object per distinct message. */
export function eventName(volume: ReplicatedVolume, event: EventSpec): string {
  const digest = createHash('sha256').update([volume.metadata.uid, event.type, event.reason, event.message].join('\n')).digest('hex');
  return `${volume.metadata.name}.${digest.slice(0, 16)}`;
}
