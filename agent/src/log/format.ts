// The on-disk layout of a change log, and the codec of its records. docs/log.md draws it.
//
//   0        4 KiB      8 KiB                                                 sizeBytes
//   | sb A   | sb B     | record | record | ... | wrap | (unused) |  ...  record | ... |
//
// Two superblock slots (superblock.ts), then the data region, used as a ring. A record is a
// 64-byte header, the payload, and zero padding to a multiple of 8 bytes. Records never
// straddle the end of the region: when one does not fit, the writer puts a wrap marker (a
// header with kind `wrap`) at the head and continues at the start; when not even a header
// fits, there is no marker and both writer and reader skip to the start (the skip rule).
//
// Header (little-endian):
//   0 u32 magic 'BKLG'     4 u8 kind   5 u8 version   6 u16 zero
//   8 u32 logId           12 u32 session             16 u32 payloadLength   20 u32 zero
//  24 u64 epoch           32 u64 seq                 40 u64 offset          48 u64 length
//  56 u32 CRC32C of bytes 0..56 (lets a walk trust a header without reading the payload)
//  60 u32 CRC32C of bytes 0..56 followed by the payload (computed on from the first CRC,
//         so encoding a record costs two CRC calls, one of them over the payload)
// u64 fields are written exactly; decoding refuses anything above Number.MAX_SAFE_INTEGER.
import { epoch, seq, type Epoch, type Seq } from '@bunker/proto/ids';
import { crc32c, crc32cAfter } from './crc32c.js';
import type { Entry, EntryKind } from './entry.js';

export const SUPERBLOCK_SLOT_BYTES = 4096;
export const DATA_START_POSITION = 2 * SUPERBLOCK_SLOT_BYTES;
export const ENTRY_HEADER_BYTES = 64;
export const ENTRY_ALIGN_BYTES = 8;
export const ENTRY_MAGIC = 0x474c4b42;
export const ENTRY_FORMAT_VERSION = 1;

/** What a record holds: an entry, or the wrap marker that sends a reader back to the start. */
export type RecordKind = EntryKind | 'wrap';

const kindCodes: Readonly<Record<RecordKind, number>> = { write: 1, trim: 2, zero: 3, flush: 4, wrap: 15 };

function kindFromCode(code: number): RecordKind | undefined {
  switch (code) {
    case 1: return 'write';
    case 2: return 'trim';
    case 3: return 'zero';
    case 4: return 'flush';
    case 15: return 'wrap';
    default: return undefined;
  }
}

export interface RecordHeader {
  readonly kind: RecordKind;
  /** Random per log file, so records of an earlier log in the same file never qualify. */
  readonly logId: number;
  /** Counts the opens of the log, so a stale record of an earlier session never follows a newer one. */
  readonly session: number;
  readonly payloadLength: number;
  readonly epoch: Epoch;
  readonly seq: Seq;
  readonly offset: number;
  readonly length: number;
}

export const alignUp = (value: number, alignment: number): number => Math.ceil(value / alignment) * alignment;

/** Bytes a record with this payload occupies in the log. */
export const recordBytes = (payloadLength: number): number => alignUp(ENTRY_HEADER_BYTES + payloadLength, ENTRY_ALIGN_BYTES);

const TWO_TO_32 = 0x1_0000_0000;
/** The high word of the largest safe integer, 2^53 - 1. */
const SAFE_HIGH_WORD_MAX = 0x1f_ffff;

export function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % TWO_TO_32, true);
  view.setUint32(at + 4, Math.floor(value / TWO_TO_32), true);
}

/** The u64 at `at`, or undefined when a JavaScript number cannot hold it exactly. */
export function readU64(view: DataView, at: number): number | undefined {
  const high = view.getUint32(at + 4, true);
  if (high > SAFE_HIGH_WORD_MAX) return undefined;
  const value = high * TWO_TO_32 + view.getUint32(at, true);
  return Number.isSafeInteger(value) ? value : undefined;
}

export function encodeHeader(header: RecordHeader, payload: Uint8Array): Uint8Array {
  return encodeFields(header.kind, header.logId, header.session, header.epoch, header.seq, header.offset, header.length, payload);
}

/** The header of an entry's record; the hot path of append, so no intermediate object. */
export function encodeEntryHeader(entry: Entry, logId: number, session: number): Uint8Array {
  return encodeFields(entry.kind, logId, session, entry.epoch, entry.seq, entry.offset, entry.length, entry.payload);
}

function encodeFields(
  kind: RecordKind, logId: number, session: number, epochValue: number, seqValue: number, offset: number, length: number,
  payload: Uint8Array,
): Uint8Array {
  const bytes = new Uint8Array(ENTRY_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, ENTRY_MAGIC, true);
  bytes[4] = kindCodes[kind];
  bytes[5] = ENTRY_FORMAT_VERSION;
  view.setUint32(8, logId, true);
  view.setUint32(12, session, true);
  view.setUint32(16, payload.length, true);
  writeU64(view, 24, epochValue);
  writeU64(view, 32, seqValue);
  writeU64(view, 40, offset);
  writeU64(view, 48, length);
  const headerCrc = crc32c(bytes.subarray(0, 56));
  view.setUint32(56, headerCrc, true);
  view.setUint32(60, crc32cAfter(headerCrc, payload), true);
  return bytes;
}

export type HeaderProblem = 'magic' | 'headerCrc' | 'field';
export type HeaderDecode = { readonly header: RecordHeader } | { readonly problem: HeaderProblem };

/** Decodes the 64 bytes at the start of `bytes`; never throws on any content. */
export function decodeHeader(bytes: Uint8Array, entryBytesMax: number): HeaderDecode {
  const view = new DataView(bytes.buffer, bytes.byteOffset, ENTRY_HEADER_BYTES);
  if (view.getUint32(0, true) !== ENTRY_MAGIC) return { problem: 'magic' };
  if (view.getUint32(56, true) !== crc32c(bytes.subarray(0, 56))) return { problem: 'headerCrc' };
  const kind = kindFromCode(view.getUint8(4));
  const numbers = [24, 32, 40, 48].map((at) => readU64(view, at));
  const [epochValue, seqValue, offset, length] = numbers;
  if (
    kind === undefined || view.getUint8(5) !== ENTRY_FORMAT_VERSION || view.getUint16(6, true) !== 0 ||
    view.getUint32(20, true) !== 0 || epochValue === undefined || seqValue === undefined ||
    offset === undefined || length === undefined || !Number.isSafeInteger(offset + length)
  ) {
    return { problem: 'field' };
  }
  const payloadLength = view.getUint32(16, true);
  if (!payloadFits(kind, payloadLength, length, entryBytesMax)) return { problem: 'field' };
  const header: RecordHeader = {
    kind, logId: view.getUint32(8, true), session: view.getUint32(12, true), payloadLength,
    epoch: epoch(epochValue), seq: seq(seqValue), offset, length,
  };
  return { header };
}

/** Only a write carries a payload, as long as the region it covers. */
function payloadFits(kind: RecordKind, payloadLength: number, length: number, entryBytesMax: number): boolean {
  if (kind === 'write') return payloadLength === length && payloadLength <= entryBytesMax;
  return payloadLength === 0;
}

/** Checks the CRC over header and payload of a record whose header decoded (so bytes 56..60 hold its CRC). */
export function recordCrcMatches(header: Uint8Array, payload: Uint8Array): boolean {
  const view = new DataView(header.buffer, header.byteOffset, ENTRY_HEADER_BYTES);
  return view.getUint32(60, true) === crc32c(payload, view.getUint32(56, true));
}

export function headerOf(entry: Entry, logId: number, session: number): RecordHeader {
  return {
    kind: entry.kind, logId, session, payloadLength: entry.payload.length,
    epoch: entry.epoch, seq: entry.seq, offset: entry.offset, length: entry.length,
  };
}

/** The entry a decoded record holds; a wrap marker holds none. */
export function entryOf(header: RecordHeader, payload: Uint8Array): Entry | undefined {
  if (header.kind === 'wrap') return undefined;
  return { epoch: header.epoch, seq: header.seq, offset: header.offset, length: header.length, kind: header.kind, payload };
}
