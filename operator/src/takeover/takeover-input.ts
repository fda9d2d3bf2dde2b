// What decideTakeover() is given, built from one reconcile's role checks and the volume:
// the primary's failure (and for how long it has been seen), the failover policy, a manual
// request not yet handled, and the durable sequences the bunker and the secondary report.
// An unreachable replica's numbers are not given (decideTakeover treats it as unreachable).
import { seq, type Epoch } from '@bunker/proto/ids';
import type { MigrateRequest, ReplicatedVolume } from '../api/index.js';
import { degradedToAsync } from '../protection/bunker-loss.js';
import type { ObservedVolume } from '../failover/observed-volume.js';
import type { RoleName } from '../reconcile/observed.js';
import type { RoleCheck } from '../reconcile/role-check.js';
import type { PrimaryFailure } from './primary-failure.js';

type Checks = Readonly<Record<RoleName, RoleCheck>>;

/** spec.migrate, unless it was handled already. */
export function pendingMigration(volume: ReplicatedVolume): MigrateRequest | null {
  const request = volume.spec.migrate;
  if (request === undefined) return null;
  if (volume.status?.handledRequests?.migrate === request.requestId || volume.status?.lastMigration?.requestId === request.requestId) return null;
  return request;
}

/** The request in spec.takeover, unless status records it handled. */
export function pendingRequest(volume: ReplicatedVolume): { readonly requestId: string; readonly allowDataLoss: boolean } | null {
  const request = volume.spec.takeover;
  if (request === undefined) return null;
  if (volume.status?.handledRequests?.takeover === request.requestId || volume.status?.lastTakeover?.requestId === request.requestId) return null;
  return { requestId: request.requestId, allowDataLoss: request.allowDataLoss };
}

export function takeoverInput(volume: ReplicatedVolume, checks: Checks, epoch: Epoch, failure: PrimaryFailure, unhealthyForMs: number, fencedSecondary: boolean): ObservedVolume {
  const { spec } = volume;
  const request = pendingRequest(volume);
  const bunker = checks.bunker;
  const secondary = checks.secondary;
  const bunkerReport = bunker.address === undefined ? undefined : bunker.report;
  const secondaryReport = secondary.address === undefined ? undefined : secondary.report;
  return {
    epoch,
    primary: { node: checks.primary.node, health: failure.health, unhealthyForMs: failure.reason === null ? 0 : unhealthyForMs },
    failover: { mode: spec.failover.mode, gracePeriodMs: spec.failover.gracePeriodSeconds * 1000 },
    manualRequest: request === null ? null : { requestId: request.requestId, stale: false },
    // A primary degraded to asynchronous after losing its bunker may have acknowledged writes
    // the bunker lacks: judge the takeover as recovery: none.
    recovery: degradedToAsync(volume.status?.conditions) ? 'none' : spec.replication.recovery,
    bunker: {
      node: bunker.node,
      reachable: bunkerReport !== undefined && bunkerReport.role === 'bunker',
      durableSeq: bunkerReport?.durableSeq ?? seq(0),
      firstSeq: bunkerReport?.firstSeq ?? seq(0),
    },
    // The old primary, fenced by the last takeover, is no copy to promote (failback comes later).
    secondary: fencedSecondary ? null : {
      node: secondary.node,
      reachable: secondaryReport !== undefined,
      durableSeq: secondaryReport?.durableSeq ?? seq(0),
      resyncing: secondaryReport?.resync !== undefined && (secondaryReport.resync.state === 'running' || secondaryReport.resync.state === 'verifying'),
      dataFailed: secondaryReport?.health === 'DataFailed',
    },
    takeoverInProgress: false,
    allowDataLoss: spec.failover.allowDataLoss || request?.allowDataLoss === true,
  };
}
