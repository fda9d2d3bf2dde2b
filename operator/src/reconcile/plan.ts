// plan(observed) → what to do, what status to write, which Events to raise, when to look
// again. Pure and synchronous: no clients, no clock (observed.nowMs), so every decision is a
// table test (plan.test.ts). The order of a reconcile, and of a volume's life:
//   1. deletion: release on every agent, then drop the finalizer (plan-deletion.ts);
//   2. the finalizer first, so nothing reaches an agent that deletion would not release;
//   3. the epoch: a new volume's first reconcile records epoch 1 in status and configures
//      nothing; agents hear of an epoch only once status holds it (DESIGN, "Epochs and
//      fencing"). A takeover step belongs here: decide from the same checks, record the
//      fence (status.takeover, epoch N+1) and return; the next reconciles fence, drain and
//      promote from what status says, as this one configures from status.epoch;
//   4. configure the agents that do not hold their role in that epoch (plan-configure.ts);
//   5. publish the primary's NBD endpoint (the volume's Service and EndpointSlice);
//   6. status: roles, lag, conditions and phase from the same checks, written once.
import { epoch as toEpoch, type Epoch } from '@bunker/proto/ids';
import type { ReplicatedVolumeStatus } from '../api/index.js';
import { FINALIZER, type Action, type NbdEndpoint, type Plan } from './actions.js';
import { assess, settleConditions, type Assessment } from './conditions.js';
import { leaseExpiresInMs, type Observed, type RoleName } from './observed.js';
import { configureActions } from './plan-configure.js';
import { planDeletion } from './plan-deletion.js';
import { roleEvents, transitionEvents } from './plan-events.js';
import { REQUEUE_NOT_READY_MS, REQUEUE_PROGRESS_MS, REQUEUE_READY_MS } from './requeue.js';
import { checkRole, type RoleCheck } from './role-check.js';
import { endpointStatus, lagStatus, nbdEndpoint, roleStatuses } from './role-status.js';

const FIRST_EPOCH = toEpoch(1);
/** Past a Lease's expiry, so that an agent that stopped renewing is noticed without an event. */
const LEASE_EXPIRY_MARGIN_MS = 100;

export function plan(observed: Observed): Plan {
  const { volume } = observed;
  if (volume.metadata.deletionTimestamp !== undefined) return planDeletion(observed);
  const finalizer: Action[] = volume.metadata.finalizers.includes(FINALIZER) ? [] : [{ kind: 'add-finalizer' }];
  const recorded = volume.status?.epoch;
  const checks = checkRoles(observed, recorded);
  const assessment = assess(checks, volume.spec);
  const endpoint = nbdEndpoint(checks.primary, observed.roles.primary.agent);
  const status = nextStatus(observed, checks, assessment, recorded ?? FIRST_EPOCH, endpoint);
  const events = transitionEvents(volume.status?.conditions, status.conditions ?? []);
  if (recorded === undefined) {
    return {
      actions: finalizer,
      status,
      events: [...events, { type: 'Normal', reason: 'EpochRecorded', message: `epoch ${FIRST_EPOCH} recorded; the agents are configured next`, when: 'applied' }],
      requeueAfterMs: REQUEUE_PROGRESS_MS,
    };
  }
  const configure = configureActions(volume, checks, recorded);
  return {
    actions: [...finalizer, ...configure, { kind: 'publish-endpoint', endpoint }],
    status,
    events: [...events, ...roleEvents(configure)],
    requeueAfterMs: requeueAfter(observed, configure.length > 0 ? REQUEUE_PROGRESS_MS : assessment.phase === 'Ready' ? REQUEUE_READY_MS : REQUEUE_NOT_READY_MS),
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
