// What the operator knows about a volume when it decides on a takeover: one snapshot, read
// whole every reconcile (level-based), never a stream of changes. Durable sequences come from
// the agents' status; an unreachable replica's numbers are not trusted and not given.
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';

export type PrimaryHealth =
  /** Node Ready, Lease fresh, data volume fine. */
  | 'ok'
  /** The primary's Node condition Ready is False or Unknown. */
  | 'node-not-ready'
  /** The agent's heartbeat Lease on the primary's node expired. */
  | 'lease-expired'
  /** The agent reported I/O errors on the primary data volume. */
  | 'data-failed';

export interface ObservedVolume {
  readonly epoch: Epoch;
  readonly primary: {
    readonly node: NodeName;
    readonly health: PrimaryHealth;
    /** How long the current unhealthy condition has been observed (0 when ok). */
    readonly unhealthyForMs: number;
  };
  readonly failover: {
    readonly mode: 'automatic' | 'manual';
    readonly gracePeriodMs: number;
  };
  /** A user's takeover request (spec.takeover.requestId) not yet acted on. */
  readonly manualRequest: {
    readonly requestId: string;
    /** Already handled, or made for an epoch that has since changed. */
    readonly stale: boolean;
  } | null;
  readonly recovery: 'sync' | 'none';
  readonly bunker: {
    readonly node: NodeName;
    readonly reachable: boolean;
    readonly durableSeq: Seq;
    /** Lowest sequence still in the log copy: above the secondary's durable + 1 is a hole. */
    readonly firstSeq: Seq;
  } | null;
  readonly secondary: {
    readonly node: NodeName;
    readonly reachable: boolean;
    readonly durableSeq: Seq;
    /** Being resynchronized (failback copy not verified): not a consistent copy. */
    readonly resyncing: boolean;
    readonly dataFailed: boolean;
  } | null;
  /** status records a fence for epoch + 1 whose promotion has not completed. */
  readonly takeoverInProgress: boolean;
  /** spec.failover.allowDataLoss: promote even when acknowledged writes could be lost. */
  readonly allowDataLoss: boolean;
}
