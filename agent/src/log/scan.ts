// Walks records forward from a point, checking each one follows the one before it, and
// stops at the first that does not. Recovery, reads and trims all walk with it, so they
// apply one rule (docs/log.md, "Recovery"). A record follows its predecessor when:
//  - its magic, header CRC and fields are valid and its logId is this log's;
//  - its session is not older than its predecessor's (a stale record left beyond a cut
//    by an earlier session never follows a newer one);
//  - within the same epoch its seq is exactly the previous seq + 1; a new epoch must be
//    higher and may start at any higher seq; the epoch never goes backwards;
//  - its CRC over header and payload matches (when payloads are read).
// A wrap marker follows when it repeats its predecessor's epoch and seq.
import type { Epoch, Seq } from '@bunker/proto/ids';
import {
  decodeHeader, ENTRY_HEADER_BYTES, recordBytes, recordCrcMatches, type HeaderProblem, type RecordHeader,
} from './format.js';
import { afterSkipRule, regionBytes, type Layout } from './log-space.js';
import type { Storage } from './storage.js';

/** The identity of a record as its successor sees it. */
export interface ChainLink {
  readonly epoch: Epoch;
  readonly seq: Seq;
  readonly session: number;
}

/** A position in the ring and the record just before it. */
export interface ScanPoint {
  readonly position: number;
  readonly prev: ChainLink;
}

export type StopReason = HeaderProblem | 'short' | 'foreign' | 'chain' | 'straddle' | 'crc' | 'lap';

export interface ScannerOptions {
  readonly logId: number;
  /** Bytes read at once; one record larger than this is read whole. */
  readonly readBlockBytes: number;
  /** Read payloads and check their CRC (false: walk the headers only, for a trim). */
  readonly verifyPayload: boolean;
}

export interface ScannedRecord {
  readonly header: RecordHeader;
  /** Empty unless the scanner verifies payloads. A view of a buffer no one else writes. */
  readonly payload: Uint8Array;
  /** Where a scan for this record starts (possibly before a wrap marker leading to it). */
  readonly at: ScanPoint;
  readonly after: ScanPoint;
  readonly bytes: number;
}

export function follows(prev: ChainLink, next: ChainLink): boolean {
  if (next.session < prev.session) return false;
  if (next.epoch === prev.epoch) return next.seq === prev.seq + 1;
  return next.epoch > prev.epoch && next.seq > prev.seq;
}

function markerFollows(prev: ChainLink, marker: ChainLink): boolean {
  return marker.session >= prev.session && marker.epoch === prev.epoch && marker.seq === prev.seq;
}

const NO_PAYLOAD: Uint8Array<ArrayBufferLike> = new Uint8Array(0);

export class Scanner {
  private window: Uint8Array<ArrayBufferLike> = NO_PAYLOAD;
  private windowStart = 0;
  private walkedBytes = 0;
  private current: ScanPoint;
  private stopped: { readonly reason: StopReason; readonly position: number } | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly layout: Layout,
    private readonly options: ScannerOptions,
    from: ScanPoint,
  ) {
    this.current = from;
  }

  /** Where the walk is: after the last record returned. */
  get point(): ScanPoint {
    return this.current;
  }

  /** Why the walk stopped, once `next` has returned undefined. */
  get stop(): { readonly reason: StopReason; readonly position: number } | undefined {
    return this.stopped;
  }

  /** The next record that follows, or undefined (see `stop`). Storage errors propagate. */
  async next(): Promise<ScannedRecord | undefined> {
    // At most two rounds: a wrap marker, then the record at the start.
    for (;;) {
      if (this.stopped !== undefined) return undefined;
      const at = this.current;
      const position = afterSkipRule(this.layout, at.position);
      const skipped = position === at.position ? 0 : this.layout.end - at.position;
      const headerBytes = await this.bytesAt(position, ENTRY_HEADER_BYTES);
      if (headerBytes === undefined) return this.halt('short', position);
      // Any payload that fits in the region decodes: entryBytesMax limits appends, not reads,
      // so lowering it never hides records already written.
      const decoded = decodeHeader(headerBytes, regionBytes(this.layout));
      if ('problem' in decoded) return this.halt(decoded.problem, position);
      const header = decoded.header;
      if (header.logId !== this.options.logId) return this.halt('foreign', position);
      const bytes = header.kind === 'wrap' ? this.layout.end - position : recordBytes(header.payloadLength);
      if (this.walkedBytes + skipped + bytes > regionBytes(this.layout)) return this.halt('lap', position);
      if (header.kind === 'wrap') {
        if (!markerFollows(at.prev, header)) return this.halt('chain', position);
        this.walkedBytes += skipped + bytes;
        this.current = { position: this.layout.start, prev: at.prev };
        continue;
      }
      return this.record(at, position, skipped, header);
    }
  }

  private async record(at: ScanPoint, position: number, skipped: number, header: RecordHeader): Promise<ScannedRecord | undefined> {
    if (!follows(at.prev, header)) return this.halt('chain', position);
    const bytes = recordBytes(header.payloadLength);
    if (position + bytes > this.layout.end) return this.halt('straddle', position);
    let payload = NO_PAYLOAD;
    if (this.options.verifyPayload && header.payloadLength > 0) {
      const record = await this.bytesAt(position, ENTRY_HEADER_BYTES + header.payloadLength);
      if (record === undefined) return this.halt('short', position);
      payload = record.subarray(ENTRY_HEADER_BYTES);
      if (!recordCrcMatches(record, payload)) return this.halt('crc', position);
    } else if (this.options.verifyPayload) {
      const record = await this.bytesAt(position, ENTRY_HEADER_BYTES);
      if (record === undefined || !recordCrcMatches(record, payload)) return this.halt('crc', position);
    }
    this.walkedBytes += skipped + bytes;
    this.current = { position: position + bytes, prev: { epoch: header.epoch, seq: header.seq, session: header.session } };
    return { header, payload, at, after: this.current, bytes };
  }

  private halt(reason: StopReason, position: number): undefined {
    this.stopped = { reason, position };
    return undefined;
  }

  /** `length` bytes at `position`, from the window or a fresh read; undefined on a short read. */
  private async bytesAt(position: number, length: number): Promise<Uint8Array | undefined> {
    const offset = position - this.windowStart;
    if (offset >= 0 && offset + length <= this.window.length) return this.window.subarray(offset, offset + length);
    const want = Math.min(Math.max(this.options.readBlockBytes, length), this.layout.end - position);
    if (want < length) return undefined;
    this.window = await this.storage.read(position, want);
    this.windowStart = position;
    return this.window.length < length ? undefined : this.window.subarray(0, length);
  }
}
