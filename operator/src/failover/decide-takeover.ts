// The failover decision as one pure function: promote the secondary, wait, or refuse, with
// the rule that decided and a sentence for status and Events. Rules are checked in a fixed
// order: first whether a takeover may start at all (one in progress, a stale request), then
// whether one is wanted (a request, or a failure past its grace period), then whether it is
// safe (a consistent, reachable secondary, and a bunker that can fill in what it lacks).
// Safety is never traded for availability unless spec.failover.allowDataLoss says so.
import type { ObservedVolume } from './observed-volume.js';

export type TakeoverRule =
  | 'takeover-in-progress'
  | 'stale-request'
  | 'primary-healthy'
  | 'manual-mode-awaits-request'
  | 'within-grace-period'
  | 'no-secondary'
  | 'secondary-data-failed'
  | 'secondary-resyncing'
  | 'secondary-unreachable'
  | 'bunker-unreachable'
  | 'bunker-gap'
  | 'recovery-none-may-lose-writes'
  | 'data-loss-allowed'
  | 'drain-bunker';

export interface TakeoverDecision {
  readonly decision: 'promote' | 'wait' | 'refuse';
  readonly rule: TakeoverRule;
  readonly reason: string;
}

type Trigger = { readonly kind: 'request'; readonly requestId: string } | { readonly kind: 'failure'; readonly what: string };

export function decideTakeover(observed: ObservedVolume): TakeoverDecision {
  if (observed.takeoverInProgress) {
    return refuse('takeover-in-progress', `a takeover to epoch ${observed.epoch} is already in progress; it is resumed, not started again`);
  }
  if (observed.manualRequest?.stale === true) {
    return refuse('stale-request', `takeover request ${observed.manualRequest.requestId} was already handled or predates epoch ${observed.epoch}`);
  }
  const trigger = triggerOf(observed);
  if ('decision' in trigger) return trigger;
  return safety(observed, trigger);
}

function triggerOf(observed: ObservedVolume): Trigger | TakeoverDecision {
  const request = observed.manualRequest;
  if (request !== null) return { kind: 'request', requestId: request.requestId };
  const { health, unhealthyForMs, node } = observed.primary;
  if (health === 'ok') return wait('primary-healthy', `primary ${node} is healthy`);
  const what = describe(health, node);
  if (observed.failover.mode === 'manual') {
    return wait('manual-mode-awaits-request', `${what}; failover mode is manual: waiting for a takeover request`);
  }
  // A data volume failure is reported by the agent, not inferred from silence: no grace.
  if (health !== 'data-failed' && unhealthyForMs < observed.failover.gracePeriodMs) {
    return wait('within-grace-period', `${what} for ${unhealthyForMs} ms, grace period ${observed.failover.gracePeriodMs} ms`);
  }
  return { kind: 'failure', what };
}

function safety(observed: ObservedVolume, trigger: Trigger): TakeoverDecision {
  const why = trigger.kind === 'request' ? `takeover request ${trigger.requestId}` : trigger.what;
  const secondary = observed.secondary;
  if (secondary === null) return refuse('no-secondary', `${why}, but the volume has no secondary to promote`);
  if (secondary.dataFailed) return refuse('secondary-data-failed', `${why}, but secondary ${secondary.node} reports its data volume failed`);
  if (secondary.resyncing) return refuse('secondary-resyncing', `${why}, but secondary ${secondary.node} is still being resynchronized`);
  if (!secondary.reachable) return wait('secondary-unreachable', `${why}, but secondary ${secondary.node} is unreachable`);
  if (observed.recovery === 'none') {
    return observed.allowDataLoss
      ? promote('data-loss-allowed', `${why}; recovery: none, promoting ${secondary.node} at sequence ${secondary.durableSeq} because data loss is allowed`)
      : refuse('recovery-none-may-lose-writes', `${why}; recovery: none, so ${secondary.node} may lack acknowledged writes; set allowDataLoss to promote anyway`);
  }
  const bunker = observed.bunker;
  if (bunker === null || !bunker.reachable) {
    const which = bunker === null ? 'no bunker is configured' : `bunker ${bunker.node} is unreachable`;
    return observed.allowDataLoss
      ? promote('data-loss-allowed', `${why}; ${which}, promoting ${secondary.node} at sequence ${secondary.durableSeq} because data loss is allowed`)
      : refuse('bunker-unreachable', `${why}; ${which} and secondary ${secondary.node} may lag: promoting could lose acknowledged writes`);
  }
  if (bunker.durableSeq > secondary.durableSeq && bunker.firstSeq > secondary.durableSeq + 1) {
    const hole = `bunker ${bunker.node} starts at ${bunker.firstSeq}, secondary ${secondary.node} holds up to ${secondary.durableSeq}`;
    return observed.allowDataLoss
      ? promote('data-loss-allowed', `${why}; ${hole}, promoting anyway because data loss is allowed`)
      : refuse('bunker-gap', `${why}; ${hole}: the drain would leave a hole`);
  }
  const backlog = Math.max(0, bunker.durableSeq - secondary.durableSeq);
  return promote('drain-bunker', `${why}; drain ${backlog} entries from bunker ${bunker.node} into ${secondary.node}, then promote it in epoch ${observed.epoch + 1}`);
}

function describe(health: Exclude<ObservedVolume['primary']['health'], 'ok'>, node: string): string {
  switch (health) {
    case 'node-not-ready':
      return `primary node ${node} is not Ready`;
    case 'lease-expired':
      return `the agent Lease of primary node ${node} expired`;
    case 'data-failed':
      return `primary ${node} reports its data volume failed`;
  }
}

function promote(rule: TakeoverRule, reason: string): TakeoverDecision {
  return { decision: 'promote', rule, reason };
}

function wait(rule: TakeoverRule, reason: string): TakeoverDecision {
  return { decision: 'wait', rule, reason };
}

function refuse(rule: TakeoverRule, reason: string): TakeoverDecision {
  return { decision: 'refuse', rule, reason };
}
