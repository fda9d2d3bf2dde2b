// The takeover as level-triggered steps, each decided from status.takeover and what the
// agents report now, so that a restarted operator resumes from status alone:
//   start   decideTakeover says promote: status gets epoch N+1 and status.takeover (step
//           fence) FIRST, and nothing is pushed to any agent in that reconcile;
//   fence   the bunker is configured in epoch N+1 to follow the target (it then refuses the
//           old primary's epoch); the old primary is not touched (it may be unreachable);
//   drain   the target's Drain RPC: it fetches the bunker's entries beyond its own, applies
//           them, and becomes primary in epoch N+1 (awaited with a deadline by apply; the
//           figures land in status.takeover, step promote);
//   record  once the target's Status shows it primary in epoch N+1 serving NBD: the Service
//           points at it, status.lastTakeover is written, roles move (primary = target,
//           secondary = the old primary, Fenced), and status.takeover is cleared.
// A decision to wait changes nothing; a refusal goes to status.lastRefusal and one Event.
import { epoch as toEpoch, type Epoch } from '@bunker/proto/ids';

const toEpochOf = (epoch: Epoch): Epoch => toEpoch(epoch + 1);
import type { Condition, MigrateRequest, MigrationProgress, MigrationRecord, Refusal, ReplicatedVolumeStatus, TakeoverProgress, TakeoverRecord } from '../api/index.js';
import { decideTakeover } from '../failover/decide-takeover.js';
import { FINALIZER, type Action, type EventSpec, type Plan } from '../reconcile/actions.js';
import { settleConditions, type ConditionDraft } from '../reconcile/conditions.js';
import { volumeKey, type AgentFacts, type Observed, type RoleName } from '../reconcile/observed.js';
import { agentIntent } from '../reconcile/plan-configure.js';
import type { RoleCheck } from '../reconcile/role-check.js';
import { endpointStatus, nbdEndpoint } from '../reconcile/role-status.js';
import type { PrimaryFailure } from './primary-failure.js';
import { pendingMigration, pendingRequest, takeoverInput } from './takeover-input.js';

type Checks = Readonly<Record<RoleName, RoleCheck>>;

/** How soon a takeover step is looked at again. */
export const REQUEUE_TAKEOVER_MS = 200;

export interface TakeoverContext {
  readonly observed: Observed;
  readonly checks: Checks;
  /** status.epoch as recorded (the new epoch once the fence is recorded). */
  readonly epoch: Epoch;
  /** The status the ordinary plan would write; the takeover amends it. */
  readonly status: ReplicatedVolumeStatus;
  readonly failure: PrimaryFailure;
  readonly unhealthyForMs: number;
  /** The secondary role is held by the old primary of the last takeover. */
  readonly fencedSecondary: boolean;
}

export type TakeoverPlan =
  /** No takeover under way or starting: the ordinary plan goes on, with this status and these Events. */
  | { readonly kind: 'continue'; readonly status: ReplicatedVolumeStatus; readonly events: readonly EventSpec[] }
  /** A takeover step: this plan replaces the ordinary one. */
  | { readonly kind: 'plan'; readonly plan: Plan };

export function planTakeover(context: TakeoverContext): TakeoverPlan {
  const progress = context.observed.volume.status?.takeover;
  if (progress !== undefined) return { kind: 'plan', plan: planStep(context, progress) };
  const { observed, checks, epoch, status, failure } = context;
  const migration = pendingMigration(observed.volume);
  if (migration !== null && failure.reason === null) return startMigration(context, migration);
  const decision = decideTakeover(takeoverInput(observed.volume, checks, epoch, failure, context.unhealthyForMs, context.fencedSecondary));
  if (decision.decision === 'wait') return { kind: 'continue', status, events: [] };
  const request = pendingRequest(observed.volume);
  if (decision.decision === 'refuse') return refusal(context, decision.rule, decision.reason, request?.requestId);
  const nowIso = new Date(observed.nowMs).toISOString();
  const takeover: TakeoverProgress = {
    step: 'fence',
    ...(request === null ? {} : { requestId: request.requestId }),
    reason: request === null && failure.reason !== null ? failure.reason : 'TakeoverRequested',
    startedAt: nowIso,
    fromNode: checks.primary.node,
    targetNode: checks.secondary.node,
    fromEpoch: epoch,
    toEpoch: toEpoch(epoch + 1),
  };
  const started: ReplicatedVolumeStatus = {
    ...failingOver(context, takeover, decision.reason),
    epoch: takeover.toEpoch,
    targetPrimary: takeover.targetNode,
    takeover,
    ...(request === null ? {} : { handledRequests: { ...status.handledRequests, takeover: request.requestId } }),
  };
  return {
    kind: 'plan',
    plan: {
      actions: finalizerActions(context),
      status: started,
      events: [{ type: 'Warning', reason: 'TakeoverStarted', message: `${decision.reason} (epoch ${takeover.toEpoch} recorded; fence next)`, when: 'always' }],
      requeueAfterMs: REQUEUE_TAKEOVER_MS,
    },
  };
}

function planStep(context: TakeoverContext, takeover: TakeoverProgress): Plan {
  const { observed, checks } = context;
  const target = Object.values(checks).find((check) => check.node === takeover.targetNode);
  const bunker = checks.bunker;
  const waiting = (why: string): Plan => ({
    actions: finalizerActions(context),
    status: { ...failingOver(context, takeover, why), takeover },
    events: [],
    requeueAfterMs: REQUEUE_TAKEOVER_MS * 5,
  });
  if (target === undefined) return waiting(`takeover target ${takeover.targetNode} holds no role of the volume`);
  const report = target.address === undefined ? undefined : target.report;
  if (report?.role === 'primary' && report.epoch === takeover.toEpoch && report.nbdAddress !== '') return record(context, takeover, target);
  if (target.address === undefined) return waiting(`takeover target ${target.node} is unreachable; step ${takeover.step} resumes when it answers`);
  if (takeover.entriesReplayed !== undefined) return waiting(`${target.node} drained the bunker; waiting for it to serve as primary in epoch ${takeover.toEpoch}`);
  if (bunker.address === undefined) return waiting(`bunker ${bunker.node} is unreachable; the drain resumes when it answers`);
  const actions: Action[] = [...finalizerActions(context)];
  const events: EventSpec[] = [];
  const migration = observed.volume.status?.migration;
  const old = checks.primary;
  if (migration !== undefined && old.node === takeover.fromNode && old.address !== undefined && !(old.report?.role === 'none' && old.report.epoch === takeover.toEpoch)) {
    // A planned switchover quiesces the old primary first: it stops serving (consumers
    // reconnect and retry), so nothing new is written there while the target catches up.
    actions.push({ kind: 'configure', node: old.node, address: old.address, intent: { ...agentIntent(observed.volume, 'primary', takeover.toEpoch, {}), role: 'none' } });
    events.push({ type: 'Normal', reason: 'MigrationQuiesced', message: `${old.node} stopped serving (role none in epoch ${takeover.toEpoch}); ${takeover.targetNode} receives everything next`, when: 'applied' });
  }
  const bunkerFenced = bunker.report?.role === 'bunker' && bunker.report.epoch === takeover.toEpoch;
  if (!bunkerFenced) {
    const peers = { primary: { node: target.node, address: target.address } };
    actions.push({ kind: 'configure', node: bunker.node, address: bunker.address, intent: agentIntent(observed.volume, 'bunker', takeover.toEpoch, peers) });
    events.push({ type: 'Normal', reason: 'TakeoverFenced', message: `bunker ${bunker.node} fenced in epoch ${takeover.toEpoch}, following ${target.node}`, when: 'applied' });
  }
  actions.push({
    kind: 'drain', node: target.node, address: target.address, volume: volumeKey(observed.volume), epoch: takeover.toEpoch,
    bunker: { node: bunker.node, address: bunker.address }, takeover: { ...takeover, step: 'drain' },
  });
  events.push({ type: 'Normal', reason: 'TakeoverDrained', message: `${target.node} drained the log copy of bunker ${bunker.node} and was promoted in epoch ${takeover.toEpoch}`, when: 'applied' });
  const step = bunkerFenced ? 'drain' : 'fence';
  const next: TakeoverProgress = { ...takeover, step };
  const migrating = migration === undefined ? {} : { migration: { ...migration, step: bunkerFenced ? 'drain' as const : 'quiesce' as const } };
  return {
    actions,
    status: { ...failingOver(context, next, `step ${step}: ${target.node} drains bunker ${bunker.node} and is promoted in epoch ${takeover.toEpoch}`), takeover: next, ...migrating },
    events,
    requeueAfterMs: REQUEUE_TAKEOVER_MS,
  };
}

function record(context: TakeoverContext, takeover: TakeoverProgress, target: RoleCheck): Plan {
  const { observed, checks, status } = context;
  const report = target.report;
  const nowMs = observed.nowMs;
  const bunkerDurable = checks.bunker.report?.durableSeq ?? 0;
  const lost = takeover.entriesLeft ?? Math.max(0, bunkerDurable - (report?.appliedSeq ?? 0));
  const last: TakeoverRecord = {
    reason: takeover.reason,
    ...(takeover.requestId === undefined ? {} : { requestId: takeover.requestId }),
    startedAt: takeover.startedAt,
    finishedAt: new Date(nowMs).toISOString(),
    durationSeconds: Math.max(0, Math.round((nowMs - Date.parse(takeover.startedAt)) / 100) / 10),
    fromNode: takeover.fromNode,
    toNode: target.node,
    fromEpoch: takeover.fromEpoch,
    toEpoch: takeover.toEpoch,
    entriesReplayed: takeover.entriesReplayed ?? 0,
    incompleteWritesApplied: takeover.incompleteWritesApplied ?? 0,
    bytesDrained: takeover.bytesDrained ?? 0,
    acknowledgedWritesLost: lost,
  };
  const agent: AgentFacts = observed.roles[target.role].agent;
  const endpoint = nbdEndpoint({ ...target, role: 'primary', serving: true }, agent);
  const address = agent.kind === 'lease' && agent.grpcAddress !== '' ? { address: agent.grpcAddress } : {};
  const { takeover: _done, migration, ...rest } = status;
  const migrated: MigrationRecord | undefined = migration === undefined || migration.toEpoch !== takeover.toEpoch ? undefined : {
    requestId: migration.requestId,
    startedAt: migration.startedAt,
    finishedAt: last.finishedAt,
    pauseSeconds: last.durationSeconds,
    fromNode: migration.fromNode,
    toNode: target.node,
    fromEpoch: migration.fromEpoch,
    toEpoch: migration.toEpoch,
    acknowledgedWritesLost: lost,
  };
  const conditions = settle(context, [
    { type: 'FailingOver', status: 'False', reason: 'TakeoverCompleted', message: `${target.node} took over from ${takeover.fromNode} in epoch ${takeover.toEpoch}` },
  ], status.conditions);
  return {
    actions: [...finalizerActions(context), { kind: 'publish-endpoint', endpoint }],
    status: {
      ...rest,
      phase: 'Degraded',
      epoch: takeover.toEpoch,
      currentPrimary: target.node,
      targetPrimary: target.node,
      roles: {
        primary: {
          node: target.node, state: 'Serving', health: report?.health ?? 'Unknown', ...address,
          ...(report === undefined ? {} : { durableSeq: report.durableSeq, appliedSeq: report.appliedSeq }),
        },
        ...(status.roles?.bunker === undefined ? {} : { bunker: status.roles.bunker }),
        secondary: { node: takeover.fromNode, state: 'Fenced', health: 'Unknown' },
      },
      endpoint: endpointStatus(observed.volume.metadata.name, endpoint),
      lastTakeover: last,
      ...(migrated === undefined ? (migration === undefined ? {} : { migration }) : { lastMigration: migrated }),
      conditions,
    },
    events: [...(migrated === undefined ? [] : [{
      type: 'Normal' as const, reason: 'MigrationCompleted', when: 'always' as const,
      message: `${target.node} is primary in epoch ${takeover.toEpoch} (migration ${migrated.requestId}): writes paused ${migrated.pauseSeconds} s, ${lost} acknowledged writes lost; ${takeover.fromNode} is resynchronized next`,
    }]), {
      type: 'Normal', reason: 'TakeoverCompleted', when: 'always',
      message: `${target.node} serves in epoch ${takeover.toEpoch} after ${last.durationSeconds} s (${takeover.reason}): ${last.entriesReplayed} entries replayed from the bunker, ${last.incompleteWritesApplied} incomplete writes applied, ${last.bytesDrained} bytes drained, ${lost} acknowledged writes lost`,
    }],
    requeueAfterMs: REQUEUE_TAKEOVER_MS,
  };
}

/**
 * A planned switchover (spec.migrate): a takeover by request to the secondary, with the old
 * primary quiesced first (planStep) and the figures recorded in status.lastMigration. It
 * waits (with one refusal Event per reason) until the target can take over without loss:
 * it is the secondary, resynchronized, reachable, and the bunker is reachable.
 */
function startMigration(context: TakeoverContext, request: MigrateRequest): TakeoverPlan {
  const { observed, checks, epoch, status } = context;
  const handled = { ...status.handledRequests, migrate: request.requestId };
  if (request.targetNode === checks.primary.node) {
    return {
      kind: 'continue',
      status: { ...status, handledRequests: handled },
      events: [{ type: 'Normal', reason: 'MigrationNotNeeded', message: `migration ${request.requestId}: ${request.targetNode} is the primary already`, when: 'always' }],
    };
  }
  const wait = (rule: string, message: string): TakeoverPlan => refusal(context, rule, message, request.requestId, 'MigrationWaiting');
  if (request.targetNode !== checks.secondary.node) return wait('migrate-target-not-secondary', `migration ${request.requestId}: ${request.targetNode} holds no copy of the data (the secondary is ${checks.secondary.node})`);
  if (context.fencedSecondary) return wait('migrate-target-resyncing', `migration ${request.requestId}: ${request.targetNode} is being resynchronized; the migration starts when it is verified`);
  if (!checks.primary.serving) return wait('migrate-primary-not-serving', `migration ${request.requestId}: primary ${checks.primary.node} does not serve; a takeover, not a migration, applies`);
  if (checks.secondary.address === undefined || !checks.secondary.configured) return wait('migrate-target-unreachable', `migration ${request.requestId}: ${request.targetNode} is not following as secondary`);
  if (checks.bunker.address === undefined || !checks.bunker.configured) return wait('migrate-bunker-unreachable', `migration ${request.requestId}: bunker ${checks.bunker.node} is not reachable; the target could not be brought up to date`);
  const nowIso = new Date(observed.nowMs).toISOString();
  const toEpoch = toEpochOf(epoch);
  const takeover: TakeoverProgress = {
    step: 'fence', requestId: request.requestId, reason: 'MigrationRequested', startedAt: nowIso,
    fromNode: checks.primary.node, targetNode: request.targetNode, fromEpoch: epoch, toEpoch,
  };
  const migration: MigrationProgress = {
    requestId: request.requestId, step: 'quiesce', startedAt: nowIso, fromNode: checks.primary.node, targetNode: request.targetNode, fromEpoch: epoch, toEpoch,
  };
  const message = `migration ${request.requestId}: ${checks.primary.node} quiesces, ${request.targetNode} receives everything and becomes primary in epoch ${toEpoch}`;
  return {
    kind: 'plan',
    plan: {
      actions: finalizerActions(context),
      status: { ...failingOver(context, takeover, message), phase: 'Migrating', epoch: toEpoch, targetPrimary: request.targetNode, takeover, migration, handledRequests: handled },
      events: [{ type: 'Normal', reason: 'MigrationStarted', message, when: 'always' }],
      requeueAfterMs: REQUEUE_TAKEOVER_MS,
    },
  };
}

function refusal(context: TakeoverContext, rule: string, message: string, requestId: string | undefined, reason = 'TakeoverRefused'): TakeoverPlan {
  const { status, observed } = context;
  const previous = observed.volume.status?.lastRefusal;
  if (previous !== undefined && previous.rule === rule && previous.message === message && previous.requestId === requestId) {
    return { kind: 'continue', status, events: [] };
  }
  const lastRefusal: Refusal = { rule, reason, message, ...(requestId === undefined ? {} : { requestId }), at: new Date(observed.nowMs).toISOString() };
  return { kind: 'continue', status: { ...status, lastRefusal }, events: [{ type: 'Warning', reason, message: `${rule}: ${message}`, when: 'always' }] };
}

/** The status during a takeover: phase FailingOver, Ready False, FailingOver True. */
function failingOver(context: TakeoverContext, takeover: TakeoverProgress, message: string): ReplicatedVolumeStatus {
  const { status } = context;
  const conditions = settle(context, [
    { type: 'Ready', status: 'False', reason: 'FailingOver', message },
    { type: 'FailingOver', status: 'True', reason: takeover.reason, message: `taking over from ${takeover.fromNode}: ${message}` },
  ], status.conditions);
  return { ...status, phase: 'FailingOver', conditions };
}

function settle(context: TakeoverContext, drafts: readonly ConditionDraft[], conditions: readonly Condition[] | undefined): Condition[] {
  const { volume, nowMs } = context.observed;
  const settled = settleConditions(drafts, volume.status?.conditions, volume.metadata.generation, new Date(nowMs).toISOString());
  const replaced = new Set(drafts.map((draft) => draft.type as string));
  return [...(conditions ?? []).filter((condition) => !replaced.has(condition.type)), ...settled];
}

function finalizerActions(context: TakeoverContext): Action[] {
  return context.observed.volume.metadata.finalizers.includes(FINALIZER) ? [] : [{ kind: 'add-finalizer' }];
}
