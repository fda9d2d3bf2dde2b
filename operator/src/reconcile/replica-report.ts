// The adapter between an agent's Status answer (wire types, enums, plain numbers) and the
// operator's ReplicaReport. Sequences and epochs are branded here, where they are checked;
// an answer that does not fit (an unknown role, an unsafe integer) is an unreachable replica
// with code InvalidStatus rather than a value plan() would have to doubt.
import { Health, ResyncState, Role, type ResyncStatus, type StatusResponse, type VolumeStatus } from '@bunker/proto';
import { BunkerError } from '@bunker/proto/bunker-error';
import { epoch, seq } from '@bunker/proto/ids';
import type { ReplicaHealth } from '../api/index.js';
import type { ReplicaFacts, ReplicaReport, ReplicaResync, RoleName } from './observed.js';

export function replicaFacts(response: StatusResponse, volume: string): ReplicaFacts {
  const found = response.volumes.find((candidate) => candidate.volume === volume);
  if (found === undefined) return { kind: 'absent' };
  try {
    return { kind: 'reported', report: replicaReport(found) };
  } catch (error) {
    return { kind: 'unreachable', code: 'InvalidStatus', message: error instanceof Error ? error.message : String(error) };
  }
}

/** The outcome of a failed Status call, by the RemoteError's stable code. */
export function unreachable(error: unknown): ReplicaFacts {
  const code = BunkerError.is(error) ? error.code : 'Unavailable';
  return { kind: 'unreachable', code, message: error instanceof Error ? error.message : String(error) };
}

function replicaReport(status: VolumeStatus): ReplicaReport {
  return {
    role: roleOf(status.role),
    epoch: epoch(status.epoch),
    durableSeq: seq(status.durableSeq),
    appliedSeq: seq(status.appliedSeq),
    health: healthOf(status.health),
    healthMessage: status.healthMessage,
    nbdAddress: status.nbdAddress,
    bunkerDurableSeq: seq(status.bunkerDurableSeq),
    secondaryDurableSeq: seq(status.secondaryDurableSeq),
    secondaryLagBytes: nonNegative(status.secondaryLagBytes, 'secondaryLagBytes'),
    secondaryLagSeconds: nonNegative(status.secondaryLagSeconds, 'secondaryLagSeconds'),
    trackingChanges: status.trackingChanges,
    logFull: status.logFull,
    firstSeq: seq(status.firstSeq),
    awaitingConfirmation: status.awaitingConfirmation,
    bunkerPeer: status.bunkerPeer,
    secondaryPeer: status.secondaryPeer,
    ...(status.resync === undefined ? {} : { resync: resyncReport(status.resync) }),
  };
}

function resyncReport(resync: ResyncStatus): ReplicaResync {
  return {
    state: resyncStateOf(resync.state),
    full: resync.full,
    sourceNode: resync.sourceNode,
    epoch: epoch(resync.epoch),
    regionsTotal: nonNegative(resync.regionsTotal, 'resync.regionsTotal'),
    regionsDone: nonNegative(resync.regionsDone, 'resync.regionsDone'),
    bytesTotal: nonNegative(resync.bytesTotal, 'resync.bytesTotal'),
    bytesDone: nonNegative(resync.bytesDone, 'resync.bytesDone'),
    bytesCopied: nonNegative(resync.bytesCopied, 'resync.bytesCopied'),
    bytesSkipped: nonNegative(resync.bytesSkipped, 'resync.bytesSkipped'),
    rateBytesPerSecond: nonNegative(resync.rateBytesPerSecond, 'resync.rateBytesPerSecond'),
    baseSeq: seq(resync.baseSeq),
    message: resync.message,
    startedAtMs: nonNegative(resync.startedAtMs, 'resync.startedAtMs'),
    finishedAtMs: nonNegative(resync.finishedAtMs, 'resync.finishedAtMs'),
  };
}

function resyncStateOf(state: ResyncState): ReplicaResync['state'] {
  switch (state) {
    case ResyncState.RESYNC_STATE_RUNNING: return 'running';
    case ResyncState.RESYNC_STATE_VERIFYING: return 'verifying';
    case ResyncState.RESYNC_STATE_FINISHED: return 'finished';
    case ResyncState.RESYNC_STATE_FAILED: return 'failed';
    default: throw new RangeError(`unknown resync state ${state}`);
  }
}

function roleOf(role: Role): RoleName | 'none' {
  switch (role) {
    case Role.ROLE_PRIMARY: return 'primary';
    case Role.ROLE_BUNKER: return 'bunker';
    case Role.ROLE_SECONDARY: return 'secondary';
    case Role.ROLE_NONE:
    case Role.ROLE_UNSPECIFIED: return 'none';
    default: throw new RangeError(`unknown role ${role}`);
  }
}

function healthOf(health: Health): ReplicaHealth {
  switch (health) {
    case Health.HEALTH_OK: return 'Healthy';
    case Health.HEALTH_DATA_FAILED: return 'DataFailed';
    case Health.HEALTH_LOG_FAILED: return 'LogFailed';
    case Health.HEALTH_BUNKER_UNREACHABLE: return 'BunkerUnreachable';
    default: return 'Unknown';
  }
}

function nonNegative(value: number, what: string): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${what} must be a non-negative number, got ${value}`);
  return value;
}
