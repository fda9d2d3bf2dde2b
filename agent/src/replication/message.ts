// Messages between replicas of one volume. Each maps onto proto/bunker/v1/replication.proto:
// append/append-ack ride the Append stream (primary -> bunker), ship/ship-ack the Ship stream
// (primary -> secondary), fetch-request/fetch-block the unary Fetch call (takeover drain), and
// stale-epoch is the FAILED_PRECONDITION answer by which a fenced sender learns the new epoch.
//
// Streams are ordered: a receiver sees one stream's messages in send order, or the stream
// breaks (link-down). `session` is the sender's incarnation: a restarted primary opens a new
// session with a hello, and messages of an older session still in flight are dropped.
import type { Epoch, Seq } from '@bunker/proto/ids';
import type { NodeName } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';

export interface AppendMessage {
  readonly kind: 'append';
  readonly epoch: Epoch;
  readonly session: number;
  /** Opens (or reopens) the stream; the bunker answers with where its log stands. */
  readonly hello: boolean;
  /**
   * Only on the hellos of a primary's new incarnation, before it created any entry: entries
   * above this sequence in the bunker's log were never acknowledged (the primary does not
   * have them durably), so the bunker drops them before following the new history.
   */
  readonly truncateAfterSeq: Seq | null;
  readonly entries: readonly Entry[];
  /** The bunker may trim its log copy through this sequence (the secondary holds it durably). */
  readonly trimSeq: Seq;
  /** The primary's applied mark, so a takeover can count incomplete writes. */
  readonly primaryAppliedSeq: Seq;
}

export interface AppendAckMessage {
  readonly kind: 'append-ack';
  readonly epoch: Epoch;
  readonly session: number;
  readonly hello: boolean;
  readonly durableSeq: Seq;
}

export interface ShipMessage {
  readonly kind: 'ship';
  readonly epoch: Epoch;
  readonly session: number;
  readonly hello: boolean;
  /** Only committed entries (durable on the primary and, in recovery: sync, on the bunker). */
  readonly entries: readonly Entry[];
  readonly commitSeq: Seq;
}

export interface ShipAckMessage {
  readonly kind: 'ship-ack';
  readonly epoch: Epoch;
  readonly session: number;
  readonly hello: boolean;
  readonly durableSeq: Seq;
  readonly appliedSeq: Seq;
}

export interface FetchRequestMessage {
  readonly kind: 'fetch-request';
  readonly epoch: Epoch;
  /** Entries with seq > afterSeq are wanted. */
  readonly afterSeq: Seq;
  readonly maxEntries: number;
  readonly maxBytes: number;
}

export interface FetchBlockMessage {
  readonly kind: 'fetch-block';
  readonly epoch: Epoch;
  readonly afterSeq: Seq;
  readonly entries: readonly Entry[];
  readonly bunkerDurableSeq: Seq;
  /** Lowest sequence the bunker still holds; above afterSeq + 1 means a gap (resync needed). */
  readonly bunkerFirstSeq: Seq;
  readonly primaryAppliedSeq: Seq;
}

export interface StaleEpochMessage {
  readonly kind: 'stale-epoch';
  /** The receiver's epoch, newer than the refused message's. */
  readonly epoch: Epoch;
  readonly refused: 'append' | 'ship' | 'fetch-request';
}

export type PeerMessage =
  | AppendMessage
  | AppendAckMessage
  | ShipMessage
  | ShipAckMessage
  | FetchRequestMessage
  | FetchBlockMessage
  | StaleEpochMessage;

export interface OutboundMessage {
  readonly to: NodeName;
  readonly message: PeerMessage;
}

/** Messages that ask something of the receiver: refused with stale-epoch when older. */
export function isPeerRequest(message: PeerMessage): message is AppendMessage | ShipMessage | FetchRequestMessage {
  return message.kind === 'append' || message.kind === 'ship' || message.kind === 'fetch-request';
}
