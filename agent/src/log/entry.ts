// A change-log entry as every part of the agent sees it in memory: the primary's change log,
// the bunker's log copy, the secondary's staging and change logs, the replication core and
// the wire all carry this shape. Pure types: the replication core imports it.
import type { Epoch, Seq } from '@bunker/proto/ids';

export type EntryKind = 'write' | 'trim' | 'zero' | 'flush';

export interface Entry {
  readonly epoch: Epoch;
  readonly seq: Seq;
  /** Byte offset in the volume of the region this entry covers (0 for a flush). */
  readonly offset: number;
  /** Length in bytes of that region; for a write, the payload's length. */
  readonly length: number;
  readonly kind: EntryKind;
  /** The whole-block image for a write; empty for trim, zero and flush. */
  readonly payload: Uint8Array;
}
