// A bounded, contiguous run of entries held in memory, oldest first. The primary keeps the
// entries it may still have to apply or send here; the secondary keeps those it has still to
// apply. Both limits (entries and bytes) are checked before every push: callers turn a full
// window into back-pressure, never into growth.
import type { Seq } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { assert } from './assert.js';
import { ENTRY_HEADER_BYTES } from './config.js';

export function entryBytes(entry: Entry): number {
  return ENTRY_HEADER_BYTES + entry.payload.length;
}

export class EntryWindow {
  private entries: Entry[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly entriesMax: number,
    private readonly bytesMax: number,
  ) {
    assert(entriesMax > 0 && bytesMax > 0, 'window limits must be positive');
  }

  get length(): number {
    return this.entries.length - this.head;
  }

  get byteLength(): number {
    return this.bytes;
  }

  /** Sequence of the oldest entry held, or null when empty. */
  firstSeq(): Seq | null {
    return this.entries[this.head]?.seq ?? null;
  }

  lastSeq(): Seq | null {
    return this.length === 0 ? null : (this.entries[this.entries.length - 1]?.seq ?? null);
  }

  hasRoom(entry: Entry): boolean {
    return this.length < this.entriesMax && this.bytes + entryBytes(entry) <= this.bytesMax;
  }

  push(entry: Entry): void {
    assert(this.hasRoom(entry), 'window full: the caller must apply back-pressure');
    this.pushAnyway(entry);
  }

  /**
   * For entries that are already in the log (a restart's incomplete writes, a role change):
   * they must be held whatever the limit; the window then refuses new entries until it drains.
   */
  pushAnyway(entry: Entry): void {
    const last = this.lastSeq();
    assert(last === null || entry.seq === last + 1, `window entries must be contiguous: ${last} then ${entry.seq}`);
    this.entries.push(entry);
    this.bytes += entryBytes(entry);
  }

  get(seq: Seq): Entry | undefined {
    const first = this.firstSeq();
    if (first === null || seq < first) return undefined;
    return this.entries[this.head + (seq - first)];
  }

  /** Drops entries with seq <= throughSeq. */
  dropThrough(throughSeq: Seq): void {
    while (this.length > 0) {
      const entry = this.entries[this.head];
      if (entry === undefined || entry.seq > throughSeq) break;
      this.bytes -= entryBytes(entry);
      this.head += 1;
    }
    // Compact once the dead prefix dominates, so memory follows the live length.
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
  }

  /** Entries in (afterSeq, throughSeq], in order. */
  range(afterSeq: Seq, throughSeq: Seq): Entry[] {
    const out: Entry[] = [];
    for (let seq = afterSeq + 1; seq <= throughSeq; seq += 1) {
      const entry = this.get(seq as Seq);
      assert(entry !== undefined, `window lacks entry ${seq}`);
      out.push(entry);
    }
    return out;
  }
}
