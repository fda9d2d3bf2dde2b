// The volume's phase and its four conditions, derived from the three role checks. Each
// condition answers one question and names why with a reason:
//   Ready               every role is placed, reported, configured, healthy, and the primary serves;
//   Replicating         the secondary follows the serving primary's log (asynchronously);
//   RecoveryCopyInSync  the bunker holds every acknowledged write (recovery: sync);
//   Degraded            the volume is served with less protection than the spec asks.
// lastTransitionTime moves only when a condition's status changes (metav1.Condition rules).
import type { Condition, ConditionStatus, Phase, ReplicatedVolumeSpec } from '../api/index.js';
import { worstProblem, type RoleCheck, type RoleProblem } from './role-check.js';
import type { RoleName } from './observed.js';

export const CONDITION_TYPES = ['Ready', 'Replicating', 'RecoveryCopyInSync', 'Degraded'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];
/** Conditions the takeover adds (operator/src/takeover): the primary's failure, and a takeover under way. */
export type TakeoverConditionType = 'PrimaryFailed' | 'FailingOver' | 'Resyncing';

export interface ConditionDraft {
  readonly type: ConditionType | TakeoverConditionType;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

export interface Assessment {
  readonly phase: Phase;
  readonly conditions: readonly ConditionDraft[];
}

type Checks = Readonly<Record<RoleName, RoleCheck>>;

const PLACEMENT_REASONS: ReadonlySet<string> = new Set(['NodeNotFound', 'NodeNotReady', 'AgentNotReporting', 'AgentUnreachable']);

/** `degradedToAsync`: why the primary runs recovery: none after losing its bunker (onBunkerLoss: degrade). */
export function assess(checks: Checks, spec: ReplicatedVolumeSpec, degradedToAsync: string | null = null): Assessment {
  const worst = worstProblem([checks.primary, checks.bunker, checks.secondary]);
  const replicating = replicatingCondition(checks);
  const recovery: ConditionDraft = degradedToAsync === null ? recoveryCondition(checks, spec)
    : { type: 'RecoveryCopyInSync', status: 'False', reason: 'DegradedToAsync', message: degradedToAsync };
  const degraded = degradedCondition(checks, replicating, spec.replication.recovery === 'sync' ? recovery : undefined);
  return { phase: phaseOf(checks, worst?.reason, degraded), conditions: [readyCondition(checks, worst, degraded), replicating, recovery, degraded] };
}

// Ready means fully protected, as phase Ready does: a serving volume that lost a copy (or
// whose log filled) is not Ready, whatever else is fine.
function readyCondition(checks: Checks, worst: RoleProblem | null, degraded: ConditionDraft): ConditionDraft {
  if (worst !== null) return { type: 'Ready', status: 'False', reason: worst.reason === 'NotConfigured' ? 'Configuring' : worst.reason, message: worst.message };
  if (degraded.status === 'True') return { type: 'Ready', status: 'False', reason: degraded.reason, message: degraded.message };
  return { type: 'Ready', status: 'True', reason: 'VolumeReady', message: readyMessage(checks) };
}

function readyMessage(checks: Checks): string {
  const nbd = checks.primary.report?.nbdAddress ?? '';
  return `primary ${checks.primary.node} serves NBD at ${nbd}; bunker ${checks.bunker.node} and secondary ${checks.secondary.node} follow`;
}

function notServing(checks: Checks): ConditionDraft['message'] {
  return checks.primary.problem?.message ?? `primary ${checks.primary.node} does not serve the volume`;
}

function replicatingCondition(checks: Checks): ConditionDraft {
  const type = 'Replicating';
  if (!checks.primary.serving) return { type, status: 'False', reason: 'PrimaryNotServing', message: notServing(checks) };
  const problem = checks.secondary.problem;
  if (problem !== null) return { type, status: 'False', reason: problem.reason === 'NotConfigured' ? 'SecondaryNotConfigured' : problem.reason, message: problem.message };
  const primary = checks.primary.report;
  if (primary?.trackingChanges === true) {
    return { type, status: 'False', reason: 'TrackingChanges', message: `the primary's change log filled: ${checks.primary.node} records changed regions for a later resynchronization of ${checks.secondary.node}` };
  }
  const behind = primary === undefined ? 0 : Math.max(0, primary.durableSeq - primary.secondaryDurableSeq);
  if (primary?.logFull === true) {
    return {
      type, status: 'False', reason: 'LogFull',
      message: `the change log of ${checks.primary.node} is full: ${checks.secondary.node} lags by ${behind} entries, the whole log; ` +
        `writes wait for room or fail with ENOSPC (spec.log.fillPolicy) until it catches up`,
    };
  }
  return { type, status: 'True', reason: 'Replicating', message: `secondary ${checks.secondary.node} receives the log of ${checks.primary.node}, ${behind} entries behind` };
}

function recoveryCondition(checks: Checks, spec: ReplicatedVolumeSpec): ConditionDraft {
  const type = 'RecoveryCopyInSync';
  if (spec.replication.recovery === 'none') {
    return { type, status: 'False', reason: 'RecoveryDisabled', message: 'spec.replication.recovery is none: writes do not wait for the bunker' };
  }
  const primary = checks.primary.report;
  if (checks.primary.serving && primary?.health === 'BunkerUnreachable') {
    return { type, status: 'False', reason: 'BunkerUnreachable', message: `primary ${checks.primary.node} cannot reach bunker ${checks.bunker.node}: writes wait` };
  }
  if (!checks.primary.serving) return { type, status: 'False', reason: 'PrimaryNotServing', message: notServing(checks) };
  const problem = checks.bunker.problem;
  if (problem !== null) return { type, status: 'False', reason: problem.reason === 'NotConfigured' ? 'BunkerNotConfigured' : problem.reason, message: problem.message };
  // With recovery: sync the primary acknowledges a write only once the bunker holds it, so
  // a healthy, serving primary with a configured bunker means the copy is complete.
  const durable = primary?.bunkerDurableSeq ?? 0;
  return { type, status: 'True', reason: 'InSync', message: `bunker ${checks.bunker.node} holds every acknowledged write (durable through ${durable})` };
}

function degradedCondition(checks: Checks, replicating: ConditionDraft, recovery: ConditionDraft | undefined): ConditionDraft {
  const type = 'Degraded';
  if (!checks.primary.serving) return { type, status: 'False', reason: 'NotServing', message: 'the volume is not served; Ready says why' };
  const primaryProblem = checks.primary.problem;
  if (primaryProblem !== null) return { type, status: 'True', reason: primaryProblem.reason, message: primaryProblem.message };
  const lacking = [replicating, recovery].find((condition) => condition !== undefined && condition.status !== 'True');
  if (lacking !== undefined) return { type, status: 'True', reason: lacking.reason, message: lacking.message };
  return { type, status: 'False', reason: 'FullyProtected', message: 'the bunker and the secondary both follow the primary' };
}

function phaseOf(checks: Checks, worst: string | undefined, degraded: ConditionDraft): Phase {
  const health = checks.primary.report?.health;
  if (checks.primary.configured && (health === 'DataFailed' || health === 'LogFailed')) return 'Failed';
  if (checks.primary.serving) return worst === undefined && degraded.status !== 'True' ? 'Ready' : 'Degraded';
  if (worst !== undefined && PLACEMENT_REASONS.has(worst)) return 'Pending';
  return 'Creating';
}

/** Drafts as metav1.Conditions: the previous lastTransitionTime survives unless the status changed. */
export function settleConditions(drafts: readonly ConditionDraft[], previous: readonly Condition[] | undefined, generation: number, nowIso: string): Condition[] {
  return drafts.map((draft) => {
    const before = previous?.find((condition) => condition.type === draft.type);
    const lastTransitionTime = before !== undefined && before.status === draft.status ? before.lastTransitionTime : nowIso;
    return { type: draft.type, status: draft.status, observedGeneration: generation, lastTransitionTime, reason: draft.reason, message: draft.message };
  });
}
