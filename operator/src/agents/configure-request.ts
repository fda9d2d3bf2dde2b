// An AgentIntent (the operator's words) as the wire's ConfigureRequest. Peers the intent
// does not name are sent as undefined, which the agent reads as "no such peer".
import { FillPolicy, RecoveryMode, Role, SecondaryMode, type ConfigureRequest, type Peer } from '@bunker/proto';
import type { AgentIntent, PeerRef } from '../reconcile/actions.js';
import type { RoleName } from '../reconcile/observed.js';

export function toConfigureRequest(intent: AgentIntent): ConfigureRequest {
  return {
    volume: intent.volume,
    volumeUid: intent.volumeUid,
    epoch: intent.epoch,
    role: wireRole(intent.role),
    sizeBytes: intent.sizeBytes,
    logBytes: intent.logBytes,
    recovery: intent.recovery === 'none' ? RecoveryMode.RECOVERY_MODE_NONE : RecoveryMode.RECOVERY_MODE_SYNC,
    secondary: intent.secondaryMode === 'sync' ? SecondaryMode.SECONDARY_MODE_SYNC : SecondaryMode.SECONDARY_MODE_ASYNC,
    fillPolicy: wireFillPolicy(intent.fillPolicy),
    changeMapRegionBytes: intent.changeMapRegionBytes,
    primary: peer(intent.peers.primary),
    bunker: peer(intent.peers.bunker),
    secondaryPeer: peer(intent.peers.secondary),
    clearChangeMap: intent.clearChangeMap === true,
    ...(intent.resetLogToSeq === undefined ? {} : { resetLogToSeq: intent.resetLogToSeq }),
  };
}

function peer(ref: PeerRef | undefined): Peer | undefined {
  return ref === undefined ? undefined : { node: ref.node, address: ref.address };
}

function wireRole(role: RoleName | 'none'): Role {
  switch (role) {
    case 'none': return Role.ROLE_NONE;
    case 'primary': return Role.ROLE_PRIMARY;
    case 'bunker': return Role.ROLE_BUNKER;
    case 'secondary': return Role.ROLE_SECONDARY;
  }
}

function wireFillPolicy(policy: AgentIntent['fillPolicy']): FillPolicy {
  switch (policy) {
    case 'trackChanges': return FillPolicy.FILL_POLICY_TRACK_CHANGES;
    case 'block': return FillPolicy.FILL_POLICY_BLOCK;
    case 'fail': return FillPolicy.FILL_POLICY_FAIL;
  }
}
