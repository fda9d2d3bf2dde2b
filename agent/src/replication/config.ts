// Limits and switches of one replica. Every queue in the core is bounded by one of these
// limits; units are last in the names. `bugs` exists only so the simulation can prove that
// its checkers catch each deliberate mistake: production code passes NO_BUGS.
import type { NodeName } from '@bunker/proto/ids';

export interface ReplicaLimits {
  readonly volumeBytes: number;
  /** Requests must be aligned to this and entries are whole-block images of it. */
  readonly blockBytes: number;
  /** Granularity of the change map. */
  readonly regionBytes: number;
  /** Primary: entries kept in memory (not yet applied, or not yet durable at a waited-for peer). */
  readonly windowEntriesMax: number;
  readonly windowBytesMax: number;
  /** Primary: consumer requests not yet answered. */
  readonly pendingRequestsMax: number;
  /**
   * Primary: bytes its change log can hold for records (the log's data region less one
   * largest record, the most a wrap can skip). A write that would not fit is refused with
   * LogFull before it gets a sequence. Infinity: no bound (the simulation's logs).
   */
  readonly logBytesMax: number;
  /** One message carries at most this much (one message per peer per Ready). */
  readonly batchEntriesMax: number;
  readonly batchBytesMax: number;
  /** Sent to a peer and not yet acknowledged durable. */
  readonly inflightEntriesMax: number;
  readonly inflightBytesMax: number;
  /** Secondary (and a fenced replica): entries appended and not yet applied. */
  readonly applyQueueEntriesMax: number;
  readonly applyQueueBytesMax: number;
  /** One drain block. */
  readonly fetchEntriesMax: number;
  readonly fetchBytesMax: number;
  /** An idle stream sends an empty batch this often, so silence means the peer is away. */
  readonly heartbeatTicks: number;
  /** No answer for this long: reopen the stream and resend from the last acknowledged sequence. */
  readonly resendTicks: number;
  /** A waited-for peer silent this long: stop acknowledging and report it. */
  readonly peerTimeoutTicks: number;
  /** An unanswered fetch is repeated after this long. */
  readonly fetchTimeoutTicks: number;
}

export interface TestOnlyBugs {
  /** Primary: apply and acknowledge once the local log is durable, not waiting for the bunker. */
  readonly ackBeforeBunkerDurable: boolean;
  /** Bunker: trim the log copy through its own durable sequence, ignoring the secondary. */
  readonly bunkerTrimsBelowSecondary: boolean;
  /** Bunker: accept appends that carry an older epoch. */
  readonly acceptStaleEpochAppend: boolean;
  /** Takeover: do not apply drained entries above the old primary's applied mark. */
  readonly skipIncompleteWritesOnTakeover: boolean;
}

export const NO_BUGS: TestOnlyBugs = {
  ackBeforeBunkerDurable: false,
  bunkerTrimsBelowSecondary: false,
  acceptStaleEpochAppend: false,
  skipIncompleteWritesOnTakeover: false,
};

export interface ReplicaConfig {
  readonly node: NodeName;
  readonly limits: ReplicaLimits;
  readonly bugs: TestOnlyBugs;
}

/** Bytes an entry occupies in memory and on the wire, for the byte limits. */
export const ENTRY_HEADER_BYTES = 40;

export function defaultLimits(volumeBytes: number, blockBytes = 4096): ReplicaLimits {
  return {
    volumeBytes,
    blockBytes,
    regionBytes: Math.max(blockBytes, 64 * 1024),
    windowEntriesMax: 1024,
    windowBytesMax: 64 * 1024 * 1024,
    pendingRequestsMax: 256,
    logBytesMax: Number.POSITIVE_INFINITY,
    batchEntriesMax: 256,
    batchBytesMax: 4 * 1024 * 1024,
    inflightEntriesMax: 1024,
    inflightBytesMax: 32 * 1024 * 1024,
    applyQueueEntriesMax: 2048,
    applyQueueBytesMax: 64 * 1024 * 1024,
    fetchEntriesMax: 256,
    fetchBytesMax: 4 * 1024 * 1024,
    heartbeatTicks: 5,
    resendTicks: 20,
    peerTimeoutTicks: 50,
    fetchTimeoutTicks: 20,
  };
}
