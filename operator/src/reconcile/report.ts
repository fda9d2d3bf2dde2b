// report(): the status, written once per reconcile through the status subresource, with the
// resourceVersion the reconcile read (or the one its own finalizer change produced). A
// conflict is not retried here: it is thrown, and the reconcile is queued again to plan
// from the object as it now is. An unchanged status is not written at all, so a Ready
// volume polled for lag does not churn resourceVersions while nothing moves.
import type { ReplicatedVolume, ReplicatedVolumeStatus } from '../api/index.js';
import type { ApplyFailure } from './apply.js';
import { settleConditions } from './conditions.js';

/** Condition messages are cut here: status stays small and Events carry the same text. */
export const CONDITION_MESSAGE_MAX = 1024;

export interface StatusWriter {
  replaceStatus(volume: ReplicatedVolume, resourceVersion: string, status: ReplicatedVolumeStatus): Promise<void>;
}

export async function report(volume: ReplicatedVolume, resourceVersion: string, status: ReplicatedVolumeStatus, writer: StatusWriter): Promise<boolean> {
  if (canonicalJson(volume.status ?? {}) === canonicalJson(status)) return false;
  await writer.replaceStatus(volume, resourceVersion, status);
  return true;
}

/** The planned status, with Ready saying why the reconcile could not finish its actions. */
export function statusAfterFailure(status: ReplicatedVolumeStatus, failure: ApplyFailure, generation: number, nowIso: string): ReplicatedVolumeStatus {
  const [ready] = settleConditions([{ type: 'Ready', status: 'False', reason: failure.reason, message: failure.message.slice(0, CONDITION_MESSAGE_MAX) }], status.conditions, generation, nowIso);
  const others = (status.conditions ?? []).filter((condition) => condition.type !== 'Ready');
  return { ...status, conditions: ready === undefined ? others : [ready, ...others] };
}

/** JSON with object keys sorted, so that two equal statuses compare equal whatever built them. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) return inner;
    return Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}
