// Reads a change log's durable entries: blocks after a sequence (shipping, draining,
// incomplete writes) and the position where a trim must move the tail. Each walk starts at
// the nearest checkpoint of the seq index (else at the tail) and never goes past the
// durable end. A walk that stops short is Trimmed when a trim moved the tail past it
// meanwhile (its space may have been reused), and Corrupt otherwise: those entries were
// checked when they were written or recovered, so the medium changed under them.
import { seq as toSeq, type Seq } from '@bunker/proto/ids';
import type { Entry } from './entry.js';
import { ioError, LogError } from './errors.js';
import { entryOf } from './format.js';
import { afterSkipRule, type Layout } from './log-space.js';
import { Scanner, type ScannedRecord, type ScanPoint } from './scan.js';
import type { SeqIndex } from './seq-index.js';
import type { Storage } from './storage.js';

export interface ReadLimits {
  /** Payload bytes per block; a block holds at least one entry. */
  readonly bytesMax: number;
  readonly entriesMax: number;
}

/** The log's marks as they are now (they move while a walk awaits its reads). */
export interface LiveMarks {
  /** After the last durable entry, which is `durableEnd.prev`. */
  readonly durableEnd: ScanPoint;
  /** The lowest sequence still readable; below it entries were trimmed. */
  readonly firstSeq: Seq;
  /** The tail both superblock copies record: records from here on are in place. */
  readonly effectiveTail: ScanPoint;
}

export interface LogReaderContext {
  readonly storage: Storage;
  readonly layout: Layout;
  readonly logId: number;
  readonly readBlockBytes: number;
  readonly index: SeqIndex;
  readonly marks: () => LiveMarks;
}

/**
 * Read window of a locate walk. It reads headers only, from a checkpoint of the seq index
 * (one every indexIntervalBytes, 64 KiB by default), so a small window finds the target in
 * one or two reads; a readBlockBytes window (1 MiB) would read and allocate a megabyte per
 * trim for one header.
 */
const LOCATE_WINDOW_BYTES = 64 * 1024;

export class LogReader {
  constructor(private readonly context: LogReaderContext) {}

  /** Up to `limits` of durable entries after `afterSeq`, in order; empty when there are none. */
  async readBlock(afterSeq: Seq, limits: ReadLimits): Promise<Entry[]> {
    const { durableEnd, firstSeq } = this.context.marks();
    if (afterSeq + 1 < firstSeq) throw trimmed(afterSeq, firstSeq);
    const lastSeq = durableEnd.prev.seq;
    if (afterSeq >= lastSeq) return [];
    const scanner = this.scannerFor(toSeq(afterSeq + 1), true);
    const entries: Entry[] = [];
    let bytes = 0;
    for (;;) {
      const record = await this.step(scanner, afterSeq);
      const entry = entryOf(record.header, record.payload);
      if (entry === undefined || entry.seq <= afterSeq) continue;
      // The first entry always goes in, so a block larger than bytesMax still makes progress.
      if (entries.length > 0 && bytes + entry.payload.length > limits.bytesMax) return entries;
      entries.push(entry);
      bytes += entry.payload.length;
      if (entry.seq >= lastSeq || entries.length >= limits.entriesMax) return entries;
    }
  }

  /** Where the first durable entry at or above `target` starts, or the durable end. */
  async locate(target: Seq): Promise<ScanPoint> {
    const { durableEnd } = this.context.marks();
    if (target > durableEnd.prev.seq) return this.normalized(durableEnd);
    const scanner = this.scannerFor(target, false, Math.min(this.context.readBlockBytes, LOCATE_WINDOW_BYTES));
    for (;;) {
      const record = await this.step(scanner, toSeq(target - 1));
      if (record.header.seq >= target) return this.normalized(record.at);
    }
  }

  /** A walk from the latest checkpoint at or before `seq` still in place, else from the tail. */
  private scannerFor(seq: Seq, verifyPayload: boolean, readBlockBytes = this.context.readBlockBytes): Scanner {
    const { storage, layout, logId, index } = this.context;
    const checkpoint = index.floor(seq);
    const tail = this.context.marks().effectiveTail;
    const start = checkpoint !== undefined && checkpoint.seq > tail.prev.seq ? checkpoint.point : tail;
    return new Scanner(storage, layout, { logId, readBlockBytes, verifyPayload }, start);
  }

  /** The next record of a walk over durable entries. */
  private async step(scanner: Scanner, afterSeq: Seq): Promise<ScannedRecord> {
    let record: ScannedRecord | undefined;
    try {
      record = await scanner.next();
    } catch (cause) {
      throw ioError('reading the log', cause);
    }
    if (record !== undefined) return record;
    const { firstSeq } = this.context.marks();
    if (afterSeq + 1 < firstSeq) throw trimmed(afterSeq, firstSeq);
    const stop = scanner.stop;
    throw new LogError('Corrupt', `durable entries after seq ${afterSeq} do not read back (${stop?.reason ?? 'unknown'} at byte ${stop?.position ?? -1})`);
  }

  /** Positions where no header fits are the start of the region (the skip rule). */
  private normalized(point: ScanPoint): ScanPoint {
    return { position: afterSkipRule(this.context.layout, point.position), prev: point.prev };
  }
}

export function trimmed(afterSeq: Seq, firstSeq: Seq): LogError {
  return new LogError('Trimmed', `entries after seq ${afterSeq} were trimmed: the log starts at ${firstSeq}`);
}
