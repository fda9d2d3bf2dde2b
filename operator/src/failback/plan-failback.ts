// Failback as level-triggered steps, decided from what the returning old primary's agent
// reports and from status.resync, so a restarted operator (or a restarted agent) resumes:
//   fence    the old primary is configured as none in the current epoch: whatever it held
//            (primary of an older epoch, restarted and waiting for confirmation, or nothing
//            on a replaced disk), it serves nothing from now on;
//   resync   the Resync RPC (idempotent: it starts, resumes from the agent's persisted
//            record, or just answers progress) copies what differs from the primary; the
//            agent ends the copy by following the primary as its secondary;
//   connect  while the agent verifies, the primary is told its secondary, so it ships the
//            log from the copy's base sequence;
//   finish   verification done: the primary forgets its change map (clearChangeMap) and
//            status.resync says Finished; the volume is fully protected again.
// A failed resync is shown (condition Resyncing False, ResyncFailed) and retried: a failed
// copy resumes; a failed verification fences the replica and copies again.
import type { Epoch, NodeName } from '@bunker/proto/ids';
import { quantityBytes, type Condition, type ReplicatedVolumeStatus, type ResyncProgress, type RoleStatus } from '../api/index.js';
import type { Action, EventSpec, PeerRef } from '../reconcile/actions.js';
import { settleConditions, type ConditionDraft } from '../reconcile/conditions.js';
import { volumeKey, type Observed, type ReplicaResync, type RoleName } from '../reconcile/observed.js';
import { agentIntent } from '../reconcile/plan-configure.js';
import type { RoleCheck } from '../reconcile/role-check.js';

type Checks = Readonly<Record<RoleName, RoleCheck>>;

const PLACEMENT_PROBLEMS: ReadonlySet<string> = new Set(['NodeNotFound', 'NodeNotReady', 'AgentNotReporting', 'AgentUnreachable']);

/** How soon a failback step is looked at again. */
export const REQUEUE_FAILBACK_MS = 1_000;
/** After a failed resync, before it is tried again. */
export const REQUEUE_RESYNC_RETRY_MS = 5_000;

export interface FailbackContext {
  readonly observed: Observed;
  readonly checks: Checks;
  readonly epoch: Epoch;
  /** The status the ordinary plan would write; the failback amends it. */
  readonly status: ReplicatedVolumeStatus;
}

export interface FailbackPlan {
  readonly actions: readonly Action[];
  readonly status: ReplicatedVolumeStatus;
  readonly events: readonly EventSpec[];
  readonly requeueAfterMs: number;
}

/**
 * The secondary role is held by the old primary of the last takeover and no resync has
 * finished for it since: it holds a history that may have diverged, and must not follow as is.
 */
export function needsFailback(status: ReplicatedVolumeStatus | undefined, secondaryNode: NodeName): boolean {
  // A spare placed as the new secondary (operator/src/protection) is copied the same way.
  const resync = status?.resync;
  if (resync !== undefined && resync.targetNode === secondaryNode && resync.state !== 'Finished') return true;
  const last = status?.lastTakeover;
  if (last === undefined || last.fromNode !== secondaryNode) return false;
  const finished = resync?.state === 'Finished' && resync.targetNode === secondaryNode && (resync.startedAt ?? '') >= last.finishedAt;
  return !finished;
}

export function planFailback(context: FailbackContext): FailbackPlan {
  const { observed, checks, epoch } = context;
  const primary = checks.primary;
  const returning = checks.secondary;
  const previous = observed.volume.status?.resync;
  const nowIso = new Date(observed.nowMs).toISOString();
  const base: Omit<ResyncProgress, 'state'> = {
    scope: previous?.scope ?? 'Changed',
    sourceNode: primary.node,
    targetNode: returning.node,
    startedAt: previous !== undefined && previous.targetNode === returning.node && previous.state !== 'Finished' ? (previous.startedAt ?? nowIso) : nowIso,
  };
  const fenced = (why: string, actions: Action[] = [], events: EventSpec[] = []): FailbackPlan => ({
    actions,
    status: amend(context, { ...(previous?.state === 'Finished' ? base : { ...previous, ...base }), state: 'Pending', message: why }, 'Fenced', {
      type: 'Resyncing', status: 'False', reason: 'ResyncPending', message: why,
    }),
    events,
    requeueAfterMs: REQUEUE_FAILBACK_MS,
  });
  if (!primary.serving || primary.address === undefined) return fenced(`waiting for primary ${primary.node} to serve before ${returning.node} is resynchronized`);
  const away = returning.problem !== null && PLACEMENT_PROBLEMS.has(returning.problem.reason);
  if (returning.address === undefined || away) {
    return fenced(`old primary ${returning.node} is fenced; it is resynchronized when its node is Ready and its agent reports again${away ? ` (${returning.problem?.message ?? ''})` : ''}`);
  }
  const report = returning.report;
  const resync = report?.resync !== undefined && report.resync.epoch === epoch ? report.resync : undefined;
  const isNone = report?.role === 'none' && report.epoch === epoch;
  const followsAfterCopy = report?.role === 'secondary' && report.epoch === epoch
    && (resync?.state === 'verifying' || resync?.state === 'finished' || (resync === undefined && (previous?.state === 'Verifying' || previous?.state === 'Finished')));
  const primaryPeer: PeerRef = { node: primary.node, address: primary.address };

  if ((!isNone && !followsAfterCopy) || (resync?.state === 'failed' && report?.role === 'secondary')) {
    const intent = agentIntent(observed.volume, 'primary', epoch, {});
    const action: Action = { kind: 'configure', node: returning.node, address: returning.address, intent: { ...intent, role: 'none' } };
    const why = resync?.state === 'failed'
      ? `resynchronization of ${returning.node} failed (${resync.message}); it is fenced again and copied again`
      : `old primary ${returning.node} is fenced in epoch ${epoch} (role none) before it is resynchronized from ${primary.node}`;
    return fenced(why, [action], [{ type: 'Normal', reason: 'FailbackFenced', message: why, when: 'applied' }]);
  }

  const actions: Action[] = [];
  const bunker = checks.bunker;
  const secondaryPeer: PeerRef = { node: returning.node, address: returning.address };
  const primaryPeers = bunker.address === undefined ? { secondary: secondaryPeer } : { bunker: { node: bunker.node, address: bunker.address }, secondary: secondaryPeer };
  if (resync?.state === 'finished' && report?.role === 'secondary') {
    const intent = agentIntent(observed.volume, 'primary', epoch, primaryPeers);
    actions.push({ kind: 'configure', node: primary.node, address: primary.address, intent: { ...intent, clearChangeMap: true } });
    const done = progressOf(base, resync, 'Finished', nowIso);
    const message = `${returning.node} resynchronized from ${primary.node}: ${resync.bytesCopied} bytes copied of ${resync.bytesTotal} compared (${done.scope === 'Full' ? 'full copy' : 'changed regions only'}); it follows as secondary`;
    return {
      actions,
      status: amend(context, { ...done, message }, 'Replicating', { type: 'Resyncing', status: 'False', reason: 'ResyncFinished', message }),
      events: [{ type: 'Normal', reason: 'FailbackCompleted', message, when: 'applied' }],
      requeueAfterMs: REQUEUE_FAILBACK_MS,
    };
  }
  actions.push({
    kind: 'resync', node: returning.node, address: returning.address, volume: volumeKey(observed.volume), epoch,
    source: primaryPeer, bytesPerSecondMax: quantityBytes(observed.volume.spec.resync.bytesPerSecondMax),
  });
  const verifying = followsAfterCopy;
  const primaryReport = primary.report;
  const baseSeq = resync?.baseSeq ?? 0;
  if (verifying && (primaryReport === undefined || primaryReport.secondaryDurableSeq === 0 || primaryReport.secondaryDurableSeq < baseSeq)) {
    actions.push({ kind: 'configure', node: primary.node, address: primary.address, intent: agentIntent(observed.volume, 'primary', epoch, primaryPeers) });
  }
  if (resync?.state === 'failed') {
    const message = `resynchronization of ${returning.node} from ${primary.node} failed: ${resync.message}; retried`;
    return {
      actions,
      status: amend(context, { ...progressOf(base, resync, 'Failed', nowIso), message }, 'Resyncing', { type: 'Resyncing', status: 'False', reason: 'ResyncFailed', message }),
      events: [],
      requeueAfterMs: REQUEUE_RESYNC_RETRY_MS,
    };
  }
  const state = verifying ? 'Verifying' : 'Running';
  const progress = resync === undefined ? { ...base, ...(previous?.targetNode === returning.node ? previous : {}), state } : progressOf(base, resync, state, nowIso);
  const message = resync === undefined ? `resynchronization of ${returning.node} from ${primary.node} is starting` : describe(resync, returning.node, primary.node);
  return {
    actions,
    status: amend(context, { ...progress, state, message }, 'Resyncing', { type: 'Resyncing', status: 'True', reason: verifying ? 'ResyncVerifying' : 'ResyncRunning', message }),
    events: [],
    requeueAfterMs: REQUEUE_FAILBACK_MS,
  };
}

function progressOf(base: Omit<ResyncProgress, 'state'>, resync: ReplicaResync, state: ResyncProgress['state'], nowIso: string): ResyncProgress {
  const left = Math.max(0, resync.bytesTotal - resync.bytesDone);
  const eta = resync.rateBytesPerSecond > 0 ? Math.ceil(left / resync.rateBytesPerSecond) : undefined;
  return {
    ...base,
    state,
    scope: resync.full ? 'Full' : 'Changed',
    ...(resync.startedAtMs > 0 ? { startedAt: new Date(resync.startedAtMs).toISOString() } : {}),
    regionsTotal: resync.regionsTotal,
    regionsDone: resync.regionsDone,
    bytesTotal: resync.bytesTotal,
    bytesDone: resync.bytesDone,
    bytesSkipped: resync.bytesSkipped,
    bytesCopied: resync.bytesCopied,
    rateBytesPerSecond: Math.round(resync.rateBytesPerSecond),
    ...(eta === undefined ? {} : { etaSeconds: eta }),
    ...(state === 'Finished' ? { finishedAt: resync.finishedAtMs > 0 ? new Date(resync.finishedAtMs).toISOString() : nowIso } : {}),
  };
}

function describe(resync: ReplicaResync, target: string, source: string): string {
  if (resync.state === 'verifying') return `${target} follows ${source} and verifies the copied regions: ${resync.message}`;
  const pct = resync.bytesTotal === 0 ? 100 : Math.floor((resync.bytesDone / resync.bytesTotal) * 100);
  return `${target} compares and copies from ${source}: ${pct}% (${resync.regionsDone}/${resync.regionsTotal} regions, ${resync.bytesCopied} bytes copied)${resync.full ? ', full copy' : ''}`;
}

/** The status with the resync record, the secondary's role state and the Resyncing condition. */
function amend(context: FailbackContext, resync: ResyncProgress, secondaryState: NonNullable<RoleStatus['state']>, draft: ConditionDraft): ReplicatedVolumeStatus {
  const { status, observed } = context;
  const { volume, nowMs } = observed;
  const settled = settleConditions([draft], volume.status?.conditions, volume.metadata.generation, new Date(nowMs).toISOString());
  const conditions: Condition[] = [...(status.conditions ?? []).filter((condition) => condition.type !== 'Resyncing'), ...settled];
  const secondary = status.roles?.secondary;
  const finished = resync.state === 'Finished';
  return {
    ...status,
    ...(finished ? {} : { phase: 'Resyncing' }),
    resync,
    conditions,
    ...(secondary === undefined ? {} : { roles: { ...status.roles, secondary: { ...secondary, state: secondaryState } } }),
  };
}
