// Detection: is the primary failed, and since when? Three named reasons, each from a fact
// the operator observed, never guessed: the primary's Node is not Ready (NodeNotReady), its
// agent's heartbeat Lease expired (AgentLeaseExpired), or its agent reports the data volume
// failed (VolumeFailed). The moment a failure was first seen is kept in status as the
// lastTransitionTime of the PrimaryFailed condition, so the grace period survives an
// operator restart. A primary that never served is not "failed": the condition appears
// only once the primary has served, and only then can a failure start a takeover.
import type { Condition, TakeoverReason } from '../api/index.js';
import type { PrimaryHealth } from '../failover/observed-volume.js';
import type { ConditionDraft } from '../reconcile/conditions.js';
import { leaseExpiresInMs, type ObservedRole } from '../reconcile/observed.js';

export const PRIMARY_FAILED = 'PrimaryFailed';

export interface PrimaryFailure {
  readonly health: PrimaryHealth;
  /** null when the primary is fine. */
  readonly reason: Exclude<TakeoverReason, 'TakeoverRequested'> | null;
  readonly message: string;
}

export function detectPrimaryFailure(primary: ObservedRole, nowMs: number): PrimaryFailure {
  const { node, nodeFacts, agent, replica } = primary;
  if (nodeFacts.kind === 'present' && !nodeFacts.ready) {
    return { health: 'node-not-ready', reason: 'NodeNotReady', message: `primary node ${node} is not Ready (${nodeFacts.reason})` };
  }
  if (agent.kind === 'lease' && agent.renewTimeMs !== undefined && leaseExpiresInMs(agent, nowMs) <= 0) {
    const ago = Math.round(-leaseExpiresInMs(agent, nowMs) / 1000);
    return { health: 'lease-expired', reason: 'AgentLeaseExpired', message: `the agent Lease of primary node ${node} expired ${ago} s ago` };
  }
  if (replica.kind === 'reported' && replica.report.role === 'primary' && replica.report.health === 'DataFailed') {
    const detail = replica.report.healthMessage === '' ? '' : `: ${replica.report.healthMessage}`;
    return { health: 'data-failed', reason: 'VolumeFailed', message: `primary ${node} reports its data volume failed${detail}` };
  }
  return { health: 'ok', reason: null, message: `primary ${node} is healthy` };
}

/**
 * The PrimaryFailed condition, or null while the primary has never served (no condition yet).
 * True with the failure's reason; False (PrimaryHealthy) once the primary serves.
 */
export function primaryFailedCondition(failure: PrimaryFailure, serving: boolean, previous: readonly Condition[] | undefined): ConditionDraft | null {
  const before = previous?.find((condition) => condition.type === PRIMARY_FAILED);
  if (failure.reason !== null) {
    return before === undefined ? null : { type: PRIMARY_FAILED, status: 'True', reason: failure.reason, message: failure.message };
  }
  if (!serving && before === undefined) return null;
  return { type: PRIMARY_FAILED, status: 'False', reason: 'PrimaryHealthy', message: failure.message };
}

/** How long the failure has been observed: since PrimaryFailed last became True (0 otherwise). */
export function unhealthyForMs(previous: readonly Condition[] | undefined, nowMs: number): number {
  const before = previous?.find((condition) => condition.type === PRIMARY_FAILED);
  if (before?.status !== 'True') return 0;
  const since = Date.parse(before.lastTransitionTime);
  return Number.isNaN(since) ? 0 : Math.max(0, nowMs - since);
}
