// Entries appended to a replica's own log and not yet applied to its data volume, with the
// marks that decide when each may be applied: durable in the local log first, then in order.
// Used by the secondary (shipped and drained entries) and by a fenced replica (its incomplete
// writes). Bounded: a receiver with no room drops the rest of a batch and acknowledges what it
// has; once it has room it asks the sender to resume after its durable sequence (secondary.ts).
import type { Seq } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { assert } from './assert.js';
import { EntryWindow } from './entry-window.js';
import type { ReadyBuilder } from './ready.js';
import type { Carried } from './role-machine.js';

export class ApplyQueue {
  lastSeq: Seq;
  durableSeq: Seq;
  appliedSeq: Seq;
  applyRequestedSeq: Seq;
  dataFailed: string | null;
  /** The images to apply, (appliedSeq, lastSeq]; normally the entries themselves. */
  private readonly images: EntryWindow;

  constructor(entriesMax: number, bytesMax: number, carried: Carried) {
    this.lastSeq = carried.log.lastSeq;
    this.durableSeq = carried.log.durableSeq;
    this.appliedSeq = carried.appliedSeq;
    this.applyRequestedSeq = carried.applyRequestedSeq;
    this.dataFailed = carried.dataFailed;
    const unapplied = carried.unapplied;
    assert(unapplied.length === this.lastSeq - this.appliedSeq, `carried ${unapplied.length} entries for (${this.appliedSeq}, ${this.lastSeq}]`);
    this.images = new EntryWindow(entriesMax, bytesMax);
    // Whatever was carried is in the log already and must be held, even above the limit.
    for (const entry of unapplied) this.images.pushAnyway(entry);
  }

  get length(): number {
    return this.images.length;
  }

  hasRoom(entry: Entry): boolean {
    return this.images.hasRoom(entry);
  }

  /** Room for a whole block of this size (a drain asks only for what it can hold). */
  hasRoomFor(entries: number, bytes: number, entriesMax: number, bytesMax: number): boolean {
    return this.images.length + entries <= entriesMax && this.images.byteLength + bytes <= bytesMax;
  }

  /** Appends `entry` to the local log; `image` is what will be applied for it. */
  append(entry: Entry, out: ReadyBuilder, image: Entry = entry): void {
    assert(entry.seq === this.lastSeq + 1, `append ${entry.seq} after ${this.lastSeq}`);
    this.images.push(image);
    this.lastSeq = entry.seq;
    out.append.push(entry);
  }

  onDurable(throughSeq: Seq): void {
    assert(throughSeq <= this.lastSeq, `durable ${throughSeq} beyond the last appended ${this.lastSeq}`);
    if (throughSeq > this.durableSeq) this.durableSeq = throughSeq;
  }

  onApplied(throughSeq: Seq): void {
    assert(throughSeq <= this.applyRequestedSeq, `applied ${throughSeq} beyond what was handed out ${this.applyRequestedSeq}`);
    if (throughSeq <= this.appliedSeq) return;
    this.appliedSeq = throughSeq;
    this.images.dropThrough(throughSeq);
  }

  /** Hands out every durable entry not yet handed out, in order. */
  emit(out: ReadyBuilder): void {
    if (this.dataFailed !== null || this.durableSeq <= this.applyRequestedSeq) return;
    out.apply.push(...this.images.range(this.applyRequestedSeq, this.durableSeq));
    this.applyRequestedSeq = this.durableSeq;
  }

  /** Nothing in flight to the driver: safe to cut the log or copy regions over the volume. */
  quiescent(): boolean {
    return this.durableSeq === this.lastSeq && this.appliedSeq === this.lastSeq;
  }

  unapplied(): Entry[] {
    return this.images.range(this.appliedSeq, this.lastSeq);
  }
}
