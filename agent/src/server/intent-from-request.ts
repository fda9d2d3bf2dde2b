// An operator's ConfigureRequest, checked and turned into the agent's volume record and the
// core's intent. Everything from the wire is validated here: a bad request is refused with
// InvalidArgument naming the field, before anything is persisted.
import { FillPolicy, RecoveryMode, Role, SecondaryMode, type ConfigureRequest } from '@bunker/proto';
import { BunkerError } from '@bunker/proto/bunker-error';
import type { Epoch, NodeName } from '@bunker/proto/ids';
import type { Intent, Role as CoreRole } from '../replication/index.js';
import type { FillPolicyName, VolumeRecord } from '../volume/intent-store.js';

export class InvalidRequestError extends BunkerError<'InvalidArgument'> {
  constructor(message: string) {
    super('InvalidArgument', message, { hint: 'the operator sent a request this agent cannot accept; see the operator log' });
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MIB = 1024 * 1024;

export function roleFromWire(role: Role): CoreRole {
  switch (role) {
    case Role.ROLE_PRIMARY: return 'primary';
    case Role.ROLE_BUNKER: return 'bunker';
    case Role.ROLE_SECONDARY: return 'secondary';
    case Role.ROLE_NONE: return 'none';
    default: throw new InvalidRequestError(`role ${role} is not a role`);
  }
}

export function roleToWire(role: CoreRole): Role {
  switch (role) {
    case 'primary': return Role.ROLE_PRIMARY;
    case 'bunker': return Role.ROLE_BUNKER;
    case 'secondary': return Role.ROLE_SECONDARY;
    case 'none': return Role.ROLE_NONE;
  }
}

function fillPolicy(policy: FillPolicy): FillPolicyName {
  switch (policy) {
    case FillPolicy.FILL_POLICY_UNSPECIFIED:
    case FillPolicy.FILL_POLICY_TRACK_CHANGES: return 'trackChanges';
    case FillPolicy.FILL_POLICY_BLOCK: return 'block';
    case FillPolicy.FILL_POLICY_FAIL: return 'fail';
    default: throw new InvalidRequestError(`fillPolicy ${policy} is unknown`);
  }
}

function checkBytes(value: number, field: string, minimum: number, multipleOf: number): number {
  if (!Number.isSafeInteger(value) || value < minimum || value % multipleOf !== 0) {
    throw new InvalidRequestError(`${field} must be a multiple of ${multipleOf} of at least ${minimum} bytes, got ${value}`);
  }
  return value;
}

export function recordFromRequest(request: ConfigureRequest): { record: Omit<VolumeRecord, 'intent'>; intent: Intent } {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(request.volume)) {
    throw new InvalidRequestError(`volume must be namespace/name, got "${request.volume}"`);
  }
  if (!UUID.test(request.volumeUid)) throw new InvalidRequestError(`volumeUid must be the ReplicatedVolume's uid, got "${request.volumeUid}"`);
  const regionBytes = request.changeMapRegionBytes === 0 ? 64 * 1024 : checkBytes(request.changeMapRegionBytes, 'changeMapRegionBytes', 4096, 4096);
  const addresses: Record<string, string> = {};
  for (const [name, peer] of [['primary', request.primary], ['bunker', request.bunker], ['secondary', request.secondaryPeer]] as const) {
    if (peer === undefined || peer.node === '') continue;
    const port = Number(/^[^\s:]+:(\d{1,5})$/.exec(peer.address)?.[1] ?? Number.NaN);
    if (!(port >= 1 && port <= 65535)) throw new InvalidRequestError(`${name}.address must be host:port with a port from 1 to 65535, got "${peer.address}"`);
    addresses[peer.node] = peer.address;
  }
  const node = (peer: { node: string } | undefined): NodeName | null => (peer === undefined || peer.node === '' ? null : (peer.node as NodeName));
  if (!Number.isSafeInteger(request.epoch) || request.epoch < 1) throw new InvalidRequestError(`epoch must be at least 1, got ${request.epoch}`);
  return {
    record: {
      shape: {
        volume: request.volume,
        volumeUid: request.volumeUid.toLowerCase(),
        sizeBytes: checkBytes(request.sizeBytes, 'sizeBytes', 4096, 4096),
        logBytes: checkBytes(request.logBytes, 'logBytes', 4 * MIB, 4096),
        fillPolicy: fillPolicy(request.fillPolicy),
        regionBytes,
      },
      addresses,
    },
    intent: {
      role: roleFromWire(request.role),
      epoch: request.epoch as Epoch,
      modes: {
        recovery: request.recovery === RecoveryMode.RECOVERY_MODE_NONE ? 'none' : 'sync',
        secondary: request.secondary === SecondaryMode.SECONDARY_MODE_SYNC ? 'sync' : 'async',
      },
      primary: node(request.primary),
      bunker: node(request.bunker),
      secondary: node(request.secondaryPeer),
    },
  };
}
