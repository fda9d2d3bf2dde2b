// One group commit: the records of the appends admitted since the previous batch left,
// laid out from the head, ready for one vectored write (two when the batch wraps around
// the end of the region) and one datasync. Every append in it resolves when that datasync
// returns; the batch is bounded by the log's in-flight limits, checked before `add`.
import type { Seq } from '@bunker/proto/ids';
import type { Deferred } from './deferred.js';
import { ENTRY_HEADER_BYTES, encodeHeader, type RecordHeader } from './format.js';
import { distance, place, type Layout } from './log-space.js';
import type { ChainLink, ScanPoint } from './scan.js';

/** What an append returns: durable, or not logged because the log is tracking changes. */
export type AppendOutcome =
  | { readonly kind: 'durable'; readonly lastSeq: Seq }
  | { readonly kind: 'tracking' };

export interface EncodedRecord {
  readonly header: Uint8Array;
  readonly payload: Uint8Array;
  /** Header, payload and padding. */
  readonly bytes: number;
  readonly link: ChainLink;
}

/** An append validated and encoded, waiting for room or in a batch. */
export interface PendingAppend {
  readonly records: readonly EncodedRecord[];
  readonly bytes: number;
  readonly lastSeq: Seq;
  readonly done: Deferred<AppendOutcome>;
}

export interface Segment {
  readonly position: number;
  readonly buffers: Uint8Array[];
  bytes: number;
}

/** A durable record to note in the seq index once the batch is durable. */
export interface IndexNote {
  readonly point: ScanPoint;
  readonly seq: Seq;
  readonly bytes: number;
}

const PADDING = new Uint8Array(ENTRY_HEADER_BYTES);
const EMPTY = new Uint8Array(0);

export class CommitBatch {
  readonly segments: Segment[] = [];
  readonly appends: PendingAppend[] = [];
  readonly notes: IndexNote[] = [];
  bytes = 0;
  entries = 0;
  private endPoint: ScanPoint;

  constructor(
    private readonly layout: Layout,
    start: ScanPoint,
    private readonly logId: number,
  ) {
    this.endPoint = start;
  }

  get isEmpty(): boolean {
    return this.appends.length === 0;
  }

  /** The head after this batch, and the last record in it (or before it). */
  get end(): ScanPoint {
    return this.endPoint;
  }

  /** Bytes of ring the append would take after this batch: records, marker, skipped space. */
  consumption(append: PendingAppend): number {
    let head = this.endPoint.position;
    let total = 0;
    for (const record of append.records) {
      const next = place(this.layout, head, record.bytes).next;
      total += distance(this.layout, head, next);
      head = next;
    }
    return total;
  }

  add(append: PendingAppend): void {
    for (const record of append.records) {
      const at = this.endPoint;
      const placement = place(this.layout, at.position, record.bytes);
      if (placement.markerAt !== undefined) {
        const segment = this.segmentAt(placement.markerAt);
        segment.buffers.push(this.marker(at.prev, record.link.session));
        segment.bytes += ENTRY_HEADER_BYTES;
      }
      const segment = this.segmentAt(placement.at);
      const padding = record.bytes - ENTRY_HEADER_BYTES - record.payload.length;
      segment.buffers.push(record.header, record.payload);
      if (padding > 0) segment.buffers.push(PADDING.subarray(0, padding));
      segment.bytes += record.bytes;
      this.notes.push({ point: at, seq: record.link.seq, bytes: record.bytes });
      this.endPoint = { position: placement.next, prev: record.link };
    }
    this.appends.push(append);
    this.bytes += append.bytes;
    this.entries += append.records.length;
  }

  /** The segment that continues at `position`, or a new one starting there. */
  private segmentAt(position: number): Segment {
    const last = this.segments.at(-1);
    if (last !== undefined && last.position + last.bytes === position) return last;
    const segment: Segment = { position, buffers: [], bytes: 0 };
    this.segments.push(segment);
    return segment;
  }

  /** A wrap marker repeats the epoch and seq of the record before it. */
  private marker(prev: ChainLink, session: number): Uint8Array {
    const header: RecordHeader = {
      kind: 'wrap', logId: this.logId, session, payloadLength: 0,
      epoch: prev.epoch, seq: prev.seq, offset: 0, length: 0,
    };
    return encodeHeader(header, EMPTY);
  }
}
