// Everything that can happen to a replica arrives as one of these events. The driver turns
// I/O completions, peer messages, operator calls and NBD requests into events and steps them;
// time arrives only as ticks.
import type { NodeName, Seq } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import type { Intent } from './intent.js';
import type { PeerMessage } from './message.js';
import type { ConsumerRequest } from './request.js';

export interface ConfigureEvent {
  readonly kind: 'configure';
  readonly configureId: number;
  readonly intent: Intent;
  /**
   * Failback: the data volume was resynchronized from the primary through this sequence;
   * the replica discards its change log and follows from here. Required when a replica whose
   * history may have diverged (an old primary) becomes a secondary.
   */
  readonly resetLogToSeq: Seq | null;
  /** Primary: the failback that needed the change map is verified; forget it. */
  readonly clearChangeMap: boolean;
}

export type Event =
  | { readonly kind: 'consumer-request'; readonly request: ConsumerRequest }
  /** The change log's group commit returned: everything through throughSeq is durable. */
  | { readonly kind: 'local-append-durable'; readonly throughSeq: Seq }
  /** The change log measured after an append or a trim: usedBytes counts every record through durableSeq. */
  | { readonly kind: 'log-usage'; readonly usedBytes: number; readonly durableSeq: Seq }
  /** The entries handed out in Ready.apply are written to the data volume through throughSeq. */
  | { readonly kind: 'data-applied'; readonly throughSeq: Seq }
  | { readonly kind: 'message'; readonly from: NodeName; readonly message: PeerMessage }
  /** Answer to Ready.reads: durable entries after the read's afterSeq, in order. */
  | { readonly kind: 'log-read'; readonly readId: number; readonly entries: readonly Entry[] }
  /** A stream to or from this peer broke; the core resends from the last acknowledgement. */
  | { readonly kind: 'link-down'; readonly peer: NodeName }
  | ConfigureEvent
  /** The data volume returned I/O errors: stop applying and acknowledging, report it. */
  | { readonly kind: 'data-volume-failed'; readonly detail: string }
  | { readonly kind: 'tick' };

export type EventKind = Event['kind'];
