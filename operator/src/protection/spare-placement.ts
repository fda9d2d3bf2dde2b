// Re-protection: a secondary or a bunker whose node or agent has been gone for
// REPLACE_AFTER_GRACE_PERIODS grace periods is replaced by the first usable spare
// (spec.placement.spares: a Ready Node with a live agent, holding no other role of the
// volume). Only status changes here; the rest is the ordinary level-triggered work:
//   secondary  the role moves to the spare and status.resync records a full copy to it as
//              Pending; the failback steps (operator/src/failback) fence, copy, follow and
//              verify exactly as for a returning old primary (condition Resyncing);
//   bunker     the role moves to the spare; it is configured as a new bunker whose log copy
//              starts where the secondary stands (plan-configure.ts), the primary is told its
//              new bunker (its reported peers drifted) and sends it everything after that, and
//              writes held for the bunker (onBunkerLoss: block) flow again once it caught up.
import type { NodeName } from '@bunker/proto/ids';
import type { ReplicatedVolumeStatus } from '../api/index.js';
import type { EventSpec } from '../reconcile/actions.js';
import { liveAgentAddress, type Observed, type RoleName } from '../reconcile/observed.js';
import type { RoleCheck } from '../reconcile/role-check.js';

type Checks = Readonly<Record<RoleName, RoleCheck>>;

/** How many grace periods a secondary may be gone before a spare replaces it. */
export const REPLACE_AFTER_GRACE_PERIODS = 3;
const GONE: ReadonlySet<string> = new Set(['NodeNotFound', 'NodeNotReady', 'AgentNotReporting']);

export interface SparePlacement {
  readonly status: ReplicatedVolumeStatus;
  readonly events: readonly EventSpec[];
}

export function placeSpare(observed: Observed, checks: Checks, status: ReplicatedVolumeStatus): SparePlacement | null {
  return placeSpareBunker(observed, checks, status) ?? placeSpareSecondary(observed, checks, status);
}

function usableSpare(observed: Observed, checks: Checks): NodeName | undefined {
  const taken = new Set<string>([checks.primary.node, checks.bunker.node, checks.secondary.node]);
  return (observed.spares ?? []).find((candidate) => !taken.has(candidate.node)
    && candidate.nodeFacts.kind === 'present' && candidate.nodeFacts.ready && liveAgentAddress(candidate.agent, observed.nowMs) !== undefined)?.node;
}

function goneLongEnough(observed: Observed, check: RoleCheck, since: number | undefined): since is number {
  const { volume, nowMs } = observed;
  if (volume.status?.takeover !== undefined || check.problem === null || !GONE.has(check.problem.reason)) return false;
  return since !== undefined && nowMs - since >= REPLACE_AFTER_GRACE_PERIODS * volume.spec.failover.gracePeriodSeconds * 1000;
}

function placeSpareBunker(observed: Observed, checks: Checks, status: ReplicatedVolumeStatus): SparePlacement | null {
  const bunker = checks.bunker;
  // A primary that answers (serving, or stalled for its bunker) is what the new bunker follows.
  if (!checks.primary.configured || checks.primary.address === undefined) return null;
  const since = goneSince(observed.volume.status, 'RecoveryCopyInSync', 'bunker', bunker.node);
  if (!goneLongEnough(observed, bunker, since)) return null;
  const spare = usableSpare(observed, checks);
  if (spare === undefined) return null;
  const message = `bunker ${bunker.node} gone for ${Math.round((observed.nowMs - since) / 1000)} s (${bunker.problem?.message ?? ''}): spare ${spare} becomes the bunker, its log copy starting where the secondary stands`;
  return {
    status: { ...status, roles: { ...status.roles, bunker: { node: spare, state: 'Pending', health: 'Unknown' } } },
    events: [{ type: 'Warning', reason: 'BunkerReplaced', message, when: 'always' }],
  };
}

function placeSpareSecondary(observed: Observed, checks: Checks, status: ReplicatedVolumeStatus): SparePlacement | null {
  const { nowMs } = observed;
  const secondary = checks.secondary;
  if (!checks.primary.serving) return null;
  const since = goneSince(observed.volume.status, 'Replicating', 'secondary', secondary.node);
  if (!goneLongEnough(observed, secondary, since) || secondary.problem === null) return null;
  const spare = usableSpare(observed, checks);
  if (spare === undefined) return null;
  const nowIso = new Date(nowMs).toISOString();
  const message = `secondary ${secondary.node} gone for ${Math.round((nowMs - since) / 1000)} s (${secondary.problem.message}): spare ${spare} becomes the secondary with a full copy from ${checks.primary.node}`;
  return {
    status: {
      ...status,
      roles: { ...status.roles, secondary: { node: spare, state: 'Pending', health: 'Unknown' } },
      resync: { state: 'Pending', scope: 'Full', sourceNode: checks.primary.node, targetNode: spare, startedAt: nowIso, message },
    },
    events: [{ type: 'Warning', reason: 'SecondaryReplaced', message, when: 'always' }],
  };
}

/** When the role on `node` went away: the last transition of the condition that follows it to False. */
function goneSince(status: ReplicatedVolumeStatus | undefined, type: string, role: RoleName, node: string): number | undefined {
  const condition = status?.conditions?.find((c) => c.type === type);
  if (condition === undefined || condition.status !== 'False' || status?.roles?.[role]?.node !== node) return undefined;
  const at = Date.parse(condition.lastTransitionTime);
  return Number.isFinite(at) ? at : undefined;
}
