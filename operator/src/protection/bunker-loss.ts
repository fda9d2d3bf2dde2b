// What a primary in recovery: sync does when it loses its bunker, per
// spec.replication.onBunkerLoss, decided from the role checks and the last status:
//   block    (the default) writes wait until the bunker is back: Ready and Degraded say so,
//            RecoveryCopyInSync False names the cause; nothing is reconfigured;
//   degrade  after spec.failover.gracePeriodSeconds without the bunker, the primary is
//            reconfigured to recovery: none (asynchronous: writes no longer wait for the
//            bunker) and RecoveryCopyInSync False/DegradedToAsync (hence Degraded True)
//            records it. A takeover in that state may lose acknowledged writes and is refused
//            unless data loss is allowed. Once the bunker is back and holds everything the
//            primary holds, the primary returns to recovery: sync.
// The record of being degraded is the RecoveryCopyInSync condition itself, so a restarted
// operator knows the primary's mode without asking it.
import type { Condition, RecoveryMode, ReplicatedVolume } from '../api/index.js';
import type { EventSpec } from '../reconcile/actions.js';
import type { RoleName } from '../reconcile/observed.js';
import type { RoleCheck } from '../reconcile/role-check.js';

type Checks = Readonly<Record<RoleName, RoleCheck>>;

export const DEGRADED_TO_ASYNC = 'DegradedToAsync';
const LOST_REASONS: ReadonlySet<string> = new Set(['NodeNotFound', 'NodeNotReady', 'AgentNotReporting', 'AgentUnreachable']);

export interface BunkerLossDecision {
  /** The recovery mode the primary should run now. */
  readonly recovery: RecoveryMode;
  /** Running asynchronously because of the policy (the RecoveryCopyInSync condition says so). */
  readonly degraded: boolean;
  /** Tell the primary its mode (a change, or the degraded mode again: idempotent). */
  readonly reconfigure: boolean;
  readonly message: string;
  readonly events: readonly EventSpec[];
}

/** Was the primary degraded to asynchronous by the last reconcile? */
export function degradedToAsync(conditions: readonly Condition[] | undefined): boolean {
  return conditions?.some((c) => c.type === 'RecoveryCopyInSync' && c.status === 'False' && c.reason === DEGRADED_TO_ASYNC) === true;
}

export function decideBunkerLoss(volume: ReplicatedVolume, checks: Checks, nowMs: number): BunkerLossDecision {
  const spec = volume.spec;
  const previous = volume.status?.conditions;
  const wasDegraded = degradedToAsync(previous);
  const keep: BunkerLossDecision = { recovery: spec.replication.recovery, degraded: false, reconfigure: false, message: '', events: [] };
  // A primary stalled for its bunker exports nothing: configured and reachable is what counts.
  const primaryHere = checks.primary.configured && checks.primary.address !== undefined;
  if (spec.replication.recovery !== 'sync' || !primaryHere) return wasDegraded ? { ...keep, recovery: 'none', degraded: true, message: 'degraded: the primary does not answer' } : keep;
  const bunker = checks.bunker;
  const primary = checks.primary.report;
  const lost = (bunker.problem !== null && LOST_REASONS.has(bunker.problem.reason)) || primary?.health === 'BunkerUnreachable';
  if (wasDegraded) {
    const caughtUp = !lost && bunker.configured && primary !== undefined && primary.bunkerDurableSeq >= primary.durableSeq;
    if (caughtUp) {
      return {
        recovery: 'sync', degraded: false, reconfigure: true, message: '',
        events: [{ type: 'Normal', reason: 'RecoveryRestored', message: `bunker ${bunker.node} holds every write again: the primary waits for it (recovery: sync)`, when: 'applied' }],
      };
    }
    const why = lost ? `bunker ${bunker.node} is still lost` : `bunker ${bunker.node} catches up (${primary?.bunkerDurableSeq ?? 0} of ${primary?.durableSeq ?? 0})`;
    return { recovery: 'none', degraded: true, reconfigure: true, message: `writes do not wait for the bunker (onBunkerLoss: degrade): ${why}; a takeover now could lose acknowledged writes`, events: [] };
  }
  if (!lost || spec.replication.onBunkerLoss !== 'degrade') return keep;
  const since = previous?.find((c) => c.type === 'RecoveryCopyInSync' && c.status === 'False')?.lastTransitionTime;
  const lostForMs = since === undefined ? 0 : nowMs - Date.parse(since);
  if (lostForMs < spec.failover.gracePeriodSeconds * 1000) return keep;
  const message = `bunker ${bunker.node} lost for ${Math.round(lostForMs / 1000)} s: writes no longer wait for it (onBunkerLoss: degrade); a takeover now could lose acknowledged writes`;
  return { recovery: 'none', degraded: true, reconfigure: true, message, events: [{ type: 'Warning', reason: DEGRADED_TO_ASYNC, message, when: 'applied' }] };
}
