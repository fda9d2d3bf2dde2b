// A sparse index from sequence to position: one checkpoint every `intervalBytes` of log, so
// a read or a trim starts its walk at most that far before the record it wants, and memory
// stays bounded by the log's size divided by the interval, however small the entries are.
import type { Seq } from '@bunker/proto/ids';
import type { ScanPoint } from './scan.js';

export interface Checkpoint {
  /** Where a walk for the record starts, and the record before it. */
  readonly point: ScanPoint;
  /** The record's sequence. */
  readonly seq: Seq;
}

export class SeqIndex {
  private readonly ring: (Checkpoint | undefined)[];
  private first = 0;
  private count = 0;
  private bytesSinceLast = Number.POSITIVE_INFINITY;

  constructor(
    regionBytes: number,
    private readonly intervalBytes: number,
  ) {
    // Checkpoints are at least intervalBytes apart and all lie in the live region.
    this.ring = new Array<Checkpoint | undefined>(Math.ceil(regionBytes / intervalBytes) + 2).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  /** Notes a durable record (in log order); keeps it when the interval has passed. */
  note(point: ScanPoint, seq: Seq, bytes: number): void {
    if (this.bytesSinceLast >= this.intervalBytes) {
      if (this.count === this.ring.length) this.dropFirst();
      this.ring[(this.first + this.count) % this.ring.length] = { point, seq };
      this.count += 1;
      this.bytesSinceLast = 0;
    }
    this.bytesSinceLast += bytes;
  }

  /** The last checkpoint at or before `seq`, or undefined when the walk must start at the tail. */
  floor(seq: Seq): Checkpoint | undefined {
    let low = 0;
    let high = this.count - 1;
    let found: Checkpoint | undefined;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const checkpoint = this.at(middle);
      if (checkpoint.seq <= seq) {
        found = checkpoint;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  /** Forgets checkpoints of records below `seq` (they were trimmed). */
  dropBelow(seq: Seq): void {
    while (this.count > 0 && this.at(0).seq < seq) this.dropFirst();
  }

  private at(index: number): Checkpoint {
    const checkpoint = this.ring[(this.first + index) % this.ring.length];
    if (checkpoint === undefined) throw new Error(`seq index: no checkpoint at ${index} of ${this.count}`);
    return checkpoint;
  }

  private dropFirst(): void {
    this.ring[this.first] = undefined;
    this.first = (this.first + 1) % this.ring.length;
    this.count -= 1;
  }
}
