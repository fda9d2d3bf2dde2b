// Room in the primary's change log, known to the core before it gives a write a sequence.
// A write the log cannot take must be refused then, not after: once it has a sequence it is
// on its way to the bunker, and a log that refuses it afterwards leaves a hole the sequence
// chain cannot have (the old behaviour was worse: the append waited for room forever).
// The estimate is the driver's last report of the log's bytes in use (which counts at least
// every record through the reported durable sequence) plus every record the core handed out
// above that sequence. It may run high for a while (a record counted in both), never low, so
// a write the core admits always fits; the driver keeps one largest record of the log's size
// out of the capacity for the space a wrap around the end of the ring can skip.
import type { Seq } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { ENTRY_HEADER_BYTES as LOG_RECORD_HEADER_BYTES } from '../log/format.js';

/** Bytes a record of this entry takes in the log. */
export function recordBytes(entry: Pick<Entry, 'payload'>): number {
  return LOG_RECORD_HEADER_BYTES + entry.payload.length;
}

export class LogRoom {
  private reportedUsedBytes: number;
  private reportedSeq: Seq;
  /** Records handed out above reportedSeq, in sequence order; consumed from `head`. */
  private unreported: { readonly seq: Seq; readonly bytes: number }[] = [];
  private head = 0;
  private unreportedBytes = 0;

  constructor(
    /** Bytes the log can hold for records; Infinity when the driver sets no bound. */
    readonly capacityBytes: number,
    usedBytes: number,
    durableSeq: Seq,
  ) {
    this.reportedUsedBytes = usedBytes;
    this.reportedSeq = durableSeq;
  }

  /** Bytes in use, as far as the core can tell (never less than the truth). */
  get usedBytes(): number {
    return this.reportedUsedBytes + this.unreportedBytes;
  }

  fits(entry: Pick<Entry, 'payload'>): boolean {
    return this.usedBytes + recordBytes(entry) <= this.capacityBytes;
  }

  /** A record handed to the driver for appending. */
  take(entry: Pick<Entry, 'seq' | 'payload'>): void {
    if (entry.seq <= this.reportedSeq) return;
    const bytes = recordBytes(entry);
    this.unreported.push({ seq: entry.seq, bytes });
    this.unreportedBytes += bytes;
  }

  /** The driver measured the log: `usedBytes` counts every record through `durableSeq`. */
  report(usedBytes: number, durableSeq: Seq): void {
    // Taken as measured, even when lower than before: a log that was cut (a failback's
    // truncate or reset) really holds less.
    this.reportedUsedBytes = usedBytes;
    this.reportedSeq = durableSeq;
    while (this.head < this.unreported.length) {
      const first = this.unreported[this.head];
      if (first === undefined || first.seq > this.reportedSeq) break;
      this.unreportedBytes -= first.bytes;
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.unreported.length) {
      this.unreported = this.unreported.slice(this.head);
      this.head = 0;
    }
  }

  /** A new writer (a primary starting or promoted): what is above the durable mark is its own. */
  restart(durableSeq: Seq, notDurable: readonly Pick<Entry, 'seq' | 'payload'>[]): void {
    this.unreported = [];
    this.head = 0;
    this.unreportedBytes = 0;
    this.reportedSeq = durableSeq;
    for (const entry of notDurable) this.take(entry);
  }
}
