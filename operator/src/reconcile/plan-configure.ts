// Which agents to configure, and with what. A role is configured when its agent is live and
// does not hold the role in the recorded epoch, and every peer it must be told about has a
// live agent too (the primary needs its bunker and secondary; they need the primary). The
// actions come in CONFIGURE_ORDER, so for a new volume the bunker and the secondary exist
// before the primary starts appending to them; apply stops at the first refusal.
import type { Epoch } from '@bunker/proto/ids';
import { quantityBytes, type RecoveryMode, type ReplicatedVolume, type RoleStatuses } from '../api/index.js';
import type { Action, AgentIntent, PeerRef } from './actions.js';
import { CONFIGURE_ORDER, volumeKey, type RoleName } from './observed.js';
import type { RoleCheck } from './role-check.js';

type Checks = Readonly<Record<RoleName, RoleCheck>>;

const PEERS_OF: Readonly<Record<RoleName, readonly RoleName[]>> = {
  primary: ['bunker', 'secondary'],
  bunker: ['primary'],
  secondary: ['primary'],
};

export function configureActions(volume: ReplicatedVolume, checks: Checks, epoch: Epoch, primaryRecovery?: RecoveryMode): Action[] {
  const actions: Action[] = [];
  for (const role of CONFIGURE_ORDER) {
    const check = checks[role];
    // NotConfigured is reported only past every node and agent problem: the agent is live.
    if (check.problem?.reason !== 'NotConfigured' || check.address === undefined) continue;
    // A restarted primary waiting for confirmation is confirmed even while a peer's agent is
    // away: that peer is named by its last known address and reached when it returns.
    const recorded = check.report?.awaitingConfirmation === true ? volume.status?.roles : undefined;
    const peers = peerRefs(checks, role, recorded);
    if (peers === undefined) continue;
    const intent = { ...agentIntent(volume, role, epoch, peers), ...newBunkerStart(checks, role) };
    actions.push({ kind: 'configure', node: check.node, address: check.address, intent: role === 'primary' && primaryRecovery !== undefined ? { ...intent, recovery: primaryRecovery } : intent });
  }
  return actions;
}

/**
 * A bunker placed on a node that holds nothing while the primary already has history (a spare
 * replacing a lost bunker) starts its log copy where the secondary stands: the primary keeps
 * every entry after that (it trims only what the secondary holds) and sends it all.
 */
function newBunkerStart(checks: Checks, role: RoleName): { resetLogToSeq?: number } {
  if (role !== 'bunker') return {};
  const report = checks.bunker.report;
  const primary = checks.primary.report;
  if ((report !== undefined && report.role !== 'none') || primary === undefined || primary.role !== 'primary' || primary.durableSeq === 0) return {};
  return { resetLogToSeq: primary.secondaryDurableSeq };
}

/** The primary replicates to other nodes than its roles name (a replaced bunker or secondary). */
export function primaryPeersDrifted(checks: Checks, failbackPending: boolean): boolean {
  const report = checks.primary.report;
  if (!checks.primary.configured || report === undefined || report.bunkerPeer === undefined) return false;
  const bunkerMoved = checks.bunker.configured && report.bunkerPeer !== checks.bunker.node;
  const secondaryMoved = !failbackPending && checks.secondary.configured && report.secondaryPeer !== checks.secondary.node;
  return bunkerMoved || secondaryMoved;
}

/**
 * The serving primary told its recovery mode (onBunkerLoss: degrade, and back): same role,
 * epoch and peers, so the agent only switches modes. Peers whose agents are away are named
 * by their last known address; the old primary being failed back is not named yet.
 */
export function primaryModeActions(volume: ReplicatedVolume, checks: Checks, epoch: Epoch, recovery: RecoveryMode, failbackPending: boolean): Action[] {
  const primary = checks.primary;
  if (primary.address === undefined || !primary.configured) return [];
  const recorded = volume.status?.roles;
  const bunker = checks.bunker.address ?? recorded?.bunker?.address;
  const secondary = failbackPending ? undefined : checks.secondary.address ?? recorded?.secondary?.address;
  const peers: AgentIntent['peers'] = {
    ...(bunker === undefined ? {} : { bunker: { node: checks.bunker.node, address: bunker } }),
    ...(secondary === undefined ? {} : { secondary: { node: checks.secondary.node, address: secondary } }),
  };
  return [{ kind: 'configure', node: primary.node, address: primary.address, intent: { ...agentIntent(volume, 'primary', epoch, peers), recovery } }];
}

function peerRefs(checks: Checks, role: RoleName, recorded?: RoleStatuses): AgentIntent['peers'] | undefined {
  const peers: Partial<Record<RoleName, PeerRef>> = {};
  for (const peer of PEERS_OF[role]) {
    const address = checks[peer].address ?? recorded?.[peer]?.address;
    if (address === undefined) return undefined;
    peers[peer] = { node: checks[peer].node, address };
  }
  return peers;
}

export function agentIntent(volume: ReplicatedVolume, role: RoleName, epoch: Epoch, peers: AgentIntent['peers']): AgentIntent {
  const { spec } = volume;
  return {
    volume: volumeKey(volume),
    volumeUid: volume.metadata.uid,
    epoch,
    role,
    sizeBytes: quantityBytes(spec.size),
    logBytes: quantityBytes(spec.log.size),
    recovery: spec.replication.recovery,
    secondaryMode: spec.replication.secondary,
    fillPolicy: spec.log.fillPolicy,
    changeMapRegionBytes: quantityBytes(spec.log.changeMapRegionSize),
    peers,
  };
}
