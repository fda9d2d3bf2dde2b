// Re-protection: a secondary whose node or agent has been gone for REPLACE_AFTER_GRACE_PERIODS
// grace periods is replaced by the first usable spare (spec.placement.spares: a Ready Node
// with a live agent, holding no other role of the volume). Only status changes here: the
// secondary role moves to the spare and status.resync records a full copy to it as Pending;
// the failback steps (operator/src/failback) then fence, copy, follow and verify exactly as
// for a returning old primary, and the Resyncing condition shows it. The bunker is not
// replaced this way: a new bunker would start with a log that misses what the primary
// acknowledged before it (onBunkerLoss: degrade is the availability answer for the bunker).
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

export function placeSpareSecondary(observed: Observed, checks: Checks, status: ReplicatedVolumeStatus): SparePlacement | null {
  const { volume, nowMs } = observed;
  const secondary = checks.secondary;
  if (volume.status?.takeover !== undefined || secondary.problem === null || !GONE.has(secondary.problem.reason)) return null;
  if (!checks.primary.serving) return null;
  const since = goneSince(volume.status, secondary.node);
  if (since === undefined || nowMs - since < REPLACE_AFTER_GRACE_PERIODS * volume.spec.failover.gracePeriodSeconds * 1000) return null;
  const taken = new Set<string>([checks.primary.node, checks.bunker.node, secondary.node]);
  const spare = (observed.spares ?? []).find((candidate) => !taken.has(candidate.node)
    && candidate.nodeFacts.kind === 'present' && candidate.nodeFacts.ready && liveAgentAddress(candidate.agent, nowMs) !== undefined);
  if (spare === undefined) return null;
  const nowIso = new Date(nowMs).toISOString();
  const message = `secondary ${secondary.node} gone for ${Math.round((nowMs - since) / 1000)} s (${secondary.problem.message}): spare ${spare.node} becomes the secondary with a full copy from ${checks.primary.node}`;
  return {
    status: {
      ...status,
      roles: { ...status.roles, secondary: { node: spare.node, state: 'Pending', health: 'Unknown' } },
      resync: { state: 'Pending', scope: 'Full', sourceNode: checks.primary.node, targetNode: spare.node as NodeName, startedAt: nowIso, message },
    },
    events: [{ type: 'Warning', reason: 'SecondaryReplaced', message, when: 'always' }],
  };
}

/** When the secondary on `node` stopped replicating, from the Replicating condition's last transition. */
function goneSince(status: ReplicatedVolumeStatus | undefined, node: string): number | undefined {
  const replicating = status?.conditions?.find((c) => c.type === 'Replicating');
  if (replicating === undefined || replicating.status !== 'False' || status?.roles?.secondary?.node !== node) return undefined;
  const at = Date.parse(replicating.lastTransitionTime);
  return Number.isFinite(at) ? at : undefined;
}
