// The takeover drain, step 3 of the failover: the secondary fetches every entry the bunker
// holds beyond its own log, one bounded block at a time, until a block comes back empty with
// the bunker's durable sequence at or below what it has. One fetch is outstanding at a time,
// repeated after fetchTimeoutTicks without an answer; answers to anything but the current
// request are ignored, so duplicated or reordered blocks are harmless.
//
// Why the drain starts at the secondary's own log tail: a secondary only ever receives
// committed entries (durable on the primary and at the bunker), so everything it holds is in
// every later history, and the bunker trims only below what the secondary holds durably, so
// the bunker still holds everything after it. A block whose first sequence leaves a hole is a
// broken promise, reported as drain-failed, never papered over.
import type { Epoch, Seq } from '@bunker/proto/ids';
import { SEQ_NONE } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import type { ReplicaLimits } from './config.js';
import type { FetchBlockMessage, FetchRequestMessage } from './message.js';
import type { TakeoverCounters } from './ready.js';

export type DrainOutcome =
  | { readonly kind: 'ignored' }
  | { readonly kind: 'entries'; readonly entries: readonly Entry[]; readonly oldPrimaryAppliedSeq: Seq }
  | { readonly kind: 'complete' }
  | { readonly kind: 'gap'; readonly bunkerFirstSeq: Seq; readonly afterSeq: Seq };

export class Drain {
  /** The last sequence the drain has taken into the log. */
  cursorSeq: Seq;
  complete = false;
  bunkerDurableSeq: Seq = SEQ_NONE;
  private outstanding = false;
  private waitedTicks = 0;
  private entriesReplayed = 0;
  private bytesReplayed = 0;
  private incompleteWritesApplied = 0;

  constructor(
    /** The divergence point: the log tail when the takeover began. */
    readonly startSeq: Seq,
    cursorSeq: Seq,
    private readonly limits: ReplicaLimits,
  ) {
    this.cursorSeq = cursorSeq;
  }

  /** The next fetch to send, if one is due and the caller has room for a whole block. */
  nextRequest(epoch: Epoch, hasRoomForBlock: boolean): FetchRequestMessage | null {
    if (this.complete || this.outstanding || !hasRoomForBlock) return null;
    this.outstanding = true;
    this.waitedTicks = 0;
    return {
      kind: 'fetch-request',
      epoch,
      afterSeq: this.cursorSeq,
      maxEntries: this.limits.fetchEntriesMax,
      maxBytes: this.limits.fetchBytesMax,
    };
  }

  tick(): void {
    if (!this.outstanding) return;
    this.waitedTicks += 1;
    if (this.waitedTicks >= this.limits.fetchTimeoutTicks) this.outstanding = false;
  }

  /** A lost request or answer: ask again at once. */
  retry(): void {
    this.outstanding = false;
  }

  /** Takes the block's entries that continue the log and fit (`room`); the rest is fetched again. */
  onBlock(block: FetchBlockMessage, room: (entry: Entry) => boolean): DrainOutcome {
    if (this.complete || block.afterSeq !== this.cursorSeq) return { kind: 'ignored' };
    this.outstanding = false;
    this.bunkerDurableSeq = block.bunkerDurableSeq;
    if (block.bunkerDurableSeq > this.cursorSeq && block.bunkerFirstSeq > this.cursorSeq + 1) {
      return { kind: 'gap', bunkerFirstSeq: block.bunkerFirstSeq, afterSeq: this.cursorSeq };
    }
    const entries: Entry[] = [];
    for (const entry of block.entries) {
      if (entry.seq !== this.cursorSeq + 1 + entries.length || !room(entry)) break;
      entries.push(entry);
    }
    const last = entries[entries.length - 1];
    if (last === undefined) {
      if (block.bunkerDurableSeq > this.cursorSeq) return { kind: 'ignored' }; // retry on the next flush
      this.complete = true;
      return { kind: 'complete' };
    }
    this.cursorSeq = last.seq;
    for (const entry of entries) {
      this.entriesReplayed += 1;
      this.bytesReplayed += entry.payload.length;
      if (entry.seq > block.primaryAppliedSeq) this.incompleteWritesApplied += 1;
    }
    return { kind: 'entries', entries, oldPrimaryAppliedSeq: block.primaryAppliedSeq };
  }

  counters(): TakeoverCounters {
    return {
      entriesReplayed: this.entriesReplayed,
      bytesReplayed: this.bytesReplayed,
      incompleteWritesApplied: this.incompleteWritesApplied,
    };
  }
}
