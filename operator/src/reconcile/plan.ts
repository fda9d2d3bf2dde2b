// plan(observed) → what to do, what status to write, which Events to raise, when to look
// again. Pure and synchronous: no clients, no clock (observed.nowMs), so every decision is a
// table test (plan.test.ts). The order of a reconcile, and of a volume's life:
//   1. deletion: release on every agent, then drop the finalizer (plan-deletion.ts);
//   2. the finalizer first, so nothing reaches an agent that deletion would not release;
//   3. the epoch: a new volume's first reconcile records epoch 1 in status and configures
//      nothing; agents hear of an epoch only once status holds it (DESIGN, "Epochs and
//      fencing"). The takeover comes next (operator/src/takeover/plan-takeover.ts): it
//      decides from the same checks, records the fence (status.takeover, epoch N+1) and
//      returns; the next reconciles fence, drain, promote and record from what status says;
//   4. configure the agents that do not hold their role in that epoch (plan-configure.ts);
//   5. publish the primary's NBD endpoint (the volume's Service and EndpointSlice);
//   6. status: roles, lag, conditions and phase from the same checks, written once.
import { epoch as toEpoch, type Epoch } from '@bunker/proto/ids';
import type { ReplicatedVolumeStatus } from '../api/index.js';
import { FINALIZER, type Action, type NbdEndpoint, type Plan } from './actions.js';
import { assess, settleConditions, type Assessment } from './conditions.js';
import { leaseExpiresInMs, type Observed, type RoleName } from './observed.js';
import { configureActions, primaryModeActions, primaryPeersDrifted } from './plan-configure.js';
import { planDeletion } from './plan-deletion.js';
import { roleEvents, transitionEvents } from './plan-events.js';
import { REQUEUE_NOT_READY_MS, REQUEUE_PROGRESS_MS, REQUEUE_READY_MS } from './requeue.js';
import { checkRole, type RoleCheck } from './role-check.js';
import { endpointStatus, lagStatus, nbdEndpoint, roleStatuses } from './role-status.js';
import { planTakeover } from '../takeover/plan-takeover.js';
import { needsFailback, planFailback } from '../failback/plan-failback.js';
import { decideBunkerLoss } from '../protection/bunker-loss.js';
import { placeSpare } from '../protection/spare-placement.js';
import { detectPrimaryFailure, PRIMARY_FAILED, primaryFailedCondition, unhealthyForMs, type PrimaryFailure } from '../takeover/primary-failure.js';

/** While the primary is failed: look often, so the grace period ends on time. */
const REQUEUE_FAILURE_MS = 500;

const FIRST_EPOCH = toEpoch(1);
/** Past a Lease's expiry, so that an agent that stopped renewing is noticed without an event. */
const LEASE_EXPIRY_MARGIN_MS = 100;

export function plan(observed: Observed): Plan {
  const { volume } = observed;
  if (volume.metadata.deletionTimestamp !== undefined) return planDeletion(observed);
  const finalizer: Action[] = volume.metadata.finalizers.includes(FINALIZER) ? [] : [{ kind: 'add-finalizer' }];
  const recorded = volume.status?.epoch;
  const checks = checkRoles(observed, recorded);
  const bunkerLoss = decideBunkerLoss(volume, checks, observed.nowMs);
  const assessment = assess(checks, volume.spec, bunkerLoss.degraded ? bunkerLoss.message : null);
  const endpoint = nbdEndpoint(checks.primary, observed.roles.primary.agent);
  const status = nextStatus(observed, checks, assessment, recorded ?? FIRST_EPOCH, endpoint);
  const failure = detectPrimaryFailure(observed.roles.primary, observed.nowMs);
  const fencedSecondary = needsFailback(volume.status, checks.secondary.node);
  const watched = withTakeoverConditions(observed, status, failure, checks.primary.serving, fencedSecondary);
  const events = transitionEvents(volume.status?.conditions, watched.conditions ?? []);
  if (recorded === undefined) {
    return {
      actions: finalizer,
      status: watched,
      events: [...events, { type: 'Normal', reason: 'EpochRecorded', message: `epoch ${FIRST_EPOCH} recorded; the agents are configured next`, when: 'applied' }],
      requeueAfterMs: REQUEUE_PROGRESS_MS,
    };
  }
  // A primary that never served (no PrimaryFailed condition yet) has nothing to take over.
  const eligible = watched.conditions?.some((condition) => condition.type === PRIMARY_FAILED) === true;
  const takeover = planTakeover({
    observed, checks, epoch: recorded, status: watched, fencedSecondary,
    failure: eligible ? failure : { health: 'ok', reason: null, message: failure.message },
    unhealthyForMs: unhealthyForMs(volume.status?.conditions, observed.nowMs),
  });
  if (takeover.kind === 'plan') return { ...takeover.plan, events: [...events, ...takeover.plan.events] };
  // The old primary of the last takeover is not configured as secondary as is: failback
  // fences it, resynchronizes it, and only then lets it follow.
  const configure = configureActions(volume, checks, recorded, bunkerLoss.recovery).filter((action) => !(fencedSecondary && action.kind === 'configure' && action.intent.role === 'secondary'));
  const protection = (bunkerLoss.reconfigure || primaryPeersDrifted(checks, fencedSecondary)) && !configure.some((action) => action.kind === 'configure' && action.intent.role === 'primary')
    ? primaryModeActions(volume, checks, recorded, bunkerLoss.recovery, fencedSecondary) : [];
  const spare = placeSpare(observed, checks, takeover.status);
  if (spare !== null) {
    return {
      actions: [...finalizer, { kind: 'publish-endpoint', endpoint }],
      status: spare.status,
      events: [...events, ...takeover.events, ...spare.events],
      requeueAfterMs: REQUEUE_PROGRESS_MS,
    };
  }
  if (fencedSecondary) {
    const failback = planFailback({ observed, checks, epoch: recorded, status: takeover.status });
    return {
      actions: [...finalizer, ...configure, ...protection, ...failback.actions, { kind: 'publish-endpoint', endpoint }],
      status: failback.status,
      events: [...events, ...takeover.events, ...roleEvents(configure), ...failback.events, ...bunkerLoss.events],
      requeueAfterMs: requeueAfter(observed, Math.min(failback.requeueAfterMs, failure.reason === null ? failback.requeueAfterMs : REQUEUE_FAILURE_MS)),
    };
  }
  const interval = configure.length > 0 ? REQUEUE_PROGRESS_MS : assessment.phase === 'Ready' ? REQUEUE_READY_MS : REQUEUE_NOT_READY_MS;
  return {
    actions: [...finalizer, ...configure, ...protection, { kind: 'publish-endpoint', endpoint }],
    status: takeover.status,
    events: [...events, ...takeover.events, ...roleEvents(configure), ...bunkerLoss.events],
    requeueAfterMs: requeueAfter(observed, failure.reason === null ? interval : Math.min(interval, REQUEUE_FAILURE_MS)),
  };
}

/** PrimaryFailed (when a failure was first seen), the last FailingOver kept, the fenced old primary shown Fenced. */
function withTakeoverConditions(observed: Observed, status: ReplicatedVolumeStatus, failure: PrimaryFailure, serving: boolean, fencedSecondary: boolean): ReplicatedVolumeStatus {
  const { volume, nowMs } = observed;
  const previous = volume.status?.conditions;
  const draft = primaryFailedCondition(failure, serving, previous);
  const settled = draft === null ? [] : settleConditions([draft], previous, volume.metadata.generation, new Date(nowMs).toISOString());
  // The last takeover's and the last resync's conditions stay until the next one changes them.
  const failingOver = previous?.filter((condition) => condition.type === 'FailingOver' || condition.type === 'Resyncing') ?? [];
  const secondary = status.roles?.secondary;
  return {
    ...status,
    conditions: [...(status.conditions ?? []), ...settled, ...failingOver],
    ...(fencedSecondary && secondary !== undefined ? { roles: { ...status.roles, secondary: { ...secondary, state: 'Fenced' } } } : {}),
  };
}

function checkRoles(observed: Observed, epoch: Epoch | undefined): Readonly<Record<RoleName, RoleCheck>> {
  const { roles, nowMs } = observed;
  return {
    primary: checkRole(roles.primary, epoch, nowMs),
    bunker: checkRole(roles.bunker, epoch, nowMs),
    secondary: checkRole(roles.secondary, epoch, nowMs),
  };
}

function nextStatus(observed: Observed, checks: Readonly<Record<RoleName, RoleCheck>>, assessment: Assessment, epoch: Epoch, endpoint: NbdEndpoint | null): ReplicatedVolumeStatus {
  const { volume, roles, nowMs } = observed;
  const previous = volume.status;
  const generation = volume.metadata.generation;
  const lag = lagStatus(checks.primary, previous?.lag);
  const agents = { primary: roles.primary.agent, bunker: roles.bunker.agent, secondary: roles.secondary.agent };
  return {
    // Records this plan does not own (takeover, migration, resync, refusals) are kept as they are.
    ...previous,
    phase: assessment.phase,
    observedGeneration: generation,
    epoch,
    currentPrimary: checks.primary.node,
    targetPrimary: previous?.takeover?.targetNode ?? previous?.migration?.targetNode ?? checks.primary.node,
    roles: roleStatuses(checks, previous?.roles, agents),
    ...(lag === undefined ? {} : { lag }),
    conditions: settleConditions(assessment.conditions, previous?.conditions, generation, new Date(nowMs).toISOString()),
    endpoint: endpointStatus(volume.metadata.name, endpoint),
  };
}

/** The phase's interval, shortened to just past the soonest expiry of a live agent Lease. */
function requeueAfter(observed: Observed, intervalMs: number): number {
  let soonest = intervalMs;
  for (const role of Object.values(observed.roles)) {
    const expiresInMs = leaseExpiresInMs(role.agent, observed.nowMs);
    if (expiresInMs > 0) soonest = Math.min(soonest, expiresInMs + LEASE_EXPIRY_MARGIN_MS);
  }
  return soonest;
}
