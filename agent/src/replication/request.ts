// Consumer requests (from NBD) and the typed answers the core gives them. A failure is an
// expected outcome with a stable kind; the NBD server maps it to an errno at its edge.
import type { Epoch, Seq } from '@bunker/proto/ids';
import type { Role } from './intent.js';

export type RequestId = number;
export type ConsumerOp = 'write' | 'trim' | 'zero' | 'flush';

export interface ConsumerRequest {
  readonly id: RequestId;
  readonly op: ConsumerOp;
  /** Byte offset; 0 for a flush. Must be block aligned. */
  readonly offset: number;
  /** Byte length; 0 for a flush. Must be block aligned and, for a write, the payload's length. */
  readonly length: number;
  /** The whole-block image for a write; empty otherwise. */
  readonly payload: Uint8Array;
  /** NBD FUA: answer only once everything up to and including this request is durable in both logs. */
  readonly fua: boolean;
}

export type RequestFailure =
  | { readonly kind: 'NotPrimary'; readonly role: Role }
  | { readonly kind: 'StaleEpoch'; readonly epoch: Epoch; readonly newerEpoch: Epoch }
  | { readonly kind: 'BunkerUnavailable'; readonly silentTicks: number }
  | { readonly kind: 'SecondaryUnavailable'; readonly silentTicks: number }
  | { readonly kind: 'DataVolumeFailed'; readonly detail: string }
  | { readonly kind: 'Recovering'; readonly reason: 'incomplete-writes' | 'bunker-handshake' | 'draining' }
  | { readonly kind: 'Backpressure'; readonly pendingRequests: number; readonly windowEntries: number }
  /** The change log has no room for the write (the secondary lags): nothing was written. */
  | { readonly kind: 'LogFull'; readonly usedBytes: number; readonly logBytesMax: number }
  | { readonly kind: 'InvalidRequest'; readonly reason: string };

export type RequestAnswer =
  | { readonly kind: 'ok'; readonly id: RequestId; readonly seq: Seq }
  | { readonly kind: 'failed'; readonly id: RequestId; readonly failure: RequestFailure };
