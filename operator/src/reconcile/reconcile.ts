// One reconcile of one volume: observe → plan → apply → report, then the Events. Events go
// out only once status is written, so that a reconcile retried after a conflict (which
// plans again from the same previous status) does not announce the same change twice.
import type { Logger } from 'pino';
import type { AgentPort } from '../agents/agent-port.js';
import type { Phase, ReplicatedVolume } from '../api/index.js';
import type { EventSpec } from './actions.js';
import { apply, type ApplyFailure, type ApplyPorts } from './apply.js';
import { observe, type ObserveSources } from './observe.js';
import { plan } from './plan.js';
import { CONDITION_MESSAGE_MAX, report, statusAfterFailure, type StatusWriter } from './report.js';
import { REQUEUE_NOT_READY_MS } from './requeue.js';
import { statusAfterDrain } from '../takeover/drain-result.js';

export type ReconcileDeps = Omit<ObserveSources, 'agents'> & Omit<ApplyPorts, 'agents'> & {
  readonly agents: AgentPort;
  readonly status: StatusWriter;
  readonly events: { record(volume: ReplicatedVolume, event: EventSpec): Promise<void> };
  readonly logger: Logger;
};

export type ReconcileResult =
  | { readonly kind: 'gone' }
  | { readonly kind: 'invalid' }
  | {
    readonly kind: 'reconciled';
    readonly phase: Phase | undefined;
    /** Why the actions stopped short, if they did (also in status and an Event). */
    readonly failure: ApplyFailure | null;
    readonly statusWritten: boolean;
    readonly requeueAfterMs: number;
  };

export async function reconcile(key: string, deps: ReconcileDeps): Promise<ReconcileResult> {
  const seen = await observe(key, deps);
  if (seen.kind === 'gone') return seen;
  if (seen.kind === 'invalid') {
    // Not requeued: only a change to the object (which brings a watch event) can fix it.
    deps.logger.warn({ volume: key, issues: seen.issues }, 'volume does not parse; not reconciled until it changes');
    return seen;
  }
  const { observed } = seen;
  const { volume } = observed;
  const planned = plan(observed);
  const outcome = await apply(volume, planned.actions, deps, deps.now);
  const log = deps.logger.child({ volume: key, epoch: planned.status.epoch, phase: planned.status.phase });
  let statusWritten = false;
  if (!outcome.finalizerRemoved) {
    const base = outcome.drained === undefined ? planned.status : statusAfterDrain(planned.status, outcome.drained);
    const status = outcome.failure === null
      ? base
      : statusAfterFailure(base, outcome.failure, volume.metadata.generation, new Date(observed.nowMs).toISOString());
    statusWritten = await report(volume, outcome.resourceVersion, status, deps.status);
  }
  const events = planned.events.filter((event) => event.when === 'always' || outcome.failure === null);
  if (outcome.failure !== null) {
    // Retried every few seconds: one Event when the failure starts or changes, not one per retry.
    const before = volume.status?.conditions?.find((condition) => condition.type === 'Ready');
    if (before?.reason !== outcome.failure.reason || before.message !== outcome.failure.message.slice(0, CONDITION_MESSAGE_MAX)) {
      events.push({ type: 'Warning', reason: outcome.failure.reason, message: outcome.failure.message, when: 'always' });
    }
    log.warn({ action: outcome.failure.action.kind, code: outcome.failure.code, err: outcome.failure.message }, 'reconcile stopped at a failed action');
  }
  for (const event of events) {
    await deps.events.record(volume, event).catch((error: unknown) => log.warn({ err: error, reason: event.reason }, 'recording an Event failed'));
  }
  if (planned.actions.some((action) => action.kind !== 'publish-endpoint') || statusWritten) {
    log.info({ actions: planned.actions.map(describeAction), failure: outcome.failure?.reason ?? null, statusWritten }, 'reconciled');
  }
  return {
    kind: 'reconciled',
    phase: planned.status.phase,
    failure: outcome.failure,
    statusWritten,
    requeueAfterMs: outcome.failure === null ? planned.requeueAfterMs : REQUEUE_NOT_READY_MS,
  };
}

function describeAction(action: Parameters<typeof apply>[1][number]): string {
  switch (action.kind) {
    case 'configure': return `configure ${action.intent.role} on ${action.node} (epoch ${action.intent.epoch})`;
    case 'release': return `release ${action.role} on ${action.node}${action.deleteData ? ', deleting data' : ''}`;
    case 'publish-endpoint': return action.endpoint === null ? 'publish no endpoint' : `publish ${action.endpoint.host}:${action.endpoint.port}`;
    case 'drain': return `drain bunker ${action.bunker.node} into ${action.node} (epoch ${action.epoch})`;
    default: return action.kind;
  }
}
