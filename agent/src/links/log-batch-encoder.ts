// A serializer for LogBatch (the Append and Ship streams' messages) that writes the protobuf
// bytes straight into one buffer of the exact size, each payload copied once. The generated
// encoder (ts-proto over @bufbuild/protobuf's BinaryWriter) copies a payload about five
// times: the writer's buffer grows by doubling, each nested entry is moved to make room for
// its length prefix, `finish()` slices, and the generated serializer copies into a Buffer.
// With 1 MiB entries those copies, and the garbage they leave, were most of the primary's CPU.
//
// The bytes are exactly the generated encoder's: same fields, same order, defaults omitted
// (log-batch-encoder.test.ts compares the two on random batches, and fails when LogBatch or
// LogEntry gains a field this file does not know). Anything this encoder does not expect
// (a negative or unsafe number) goes to the generated encoder, which decides.
import { LogBatch, type LogEntry } from '@bunker/proto';

/** The fields this encoder writes; a schema with more must be taught here first. */
export const LOG_BATCH_FIELDS = [
  'volume', 'epoch', 'session', 'hello', 'entries', 'truncateAfterSeq', 'trimSeq', 'primaryAppliedSeq', 'commitSeq', 'fromNode',
] as const;
export const LOG_ENTRY_FIELDS = ['epoch', 'seq', 'offset', 'length', 'kind', 'crc32c', 'payload'] as const;

// Tags: field number << 3 | wire type (0 varint, 2 length-delimited); all fit one byte.
const TAG_VOLUME = 10;
const TAG_EPOCH = 16;
const TAG_SESSION = 24;
const TAG_HELLO = 32;
const TAG_ENTRY = 42;
const TAG_TRUNCATE_AFTER = 48;
const TAG_TRIM = 56;
const TAG_PRIMARY_APPLIED = 64;
const TAG_COMMIT = 72;
const TAG_FROM_NODE = 82;
const TAG_ENTRY_EPOCH = 8;
const TAG_ENTRY_SEQ = 16;
const TAG_ENTRY_OFFSET = 24;
const TAG_ENTRY_LENGTH = 32;
const TAG_ENTRY_KIND = 40;
const TAG_ENTRY_CRC = 48;
const TAG_ENTRY_PAYLOAD = 58;

const UINT32_MAX = 0xffff_ffff;
const INT32_MAX = 0x7fff_ffff;

/** Serializes a LogBatch for gRPC: the same bytes as `LogBatch.encode(batch).finish()`. */
export function serializeLogBatch(batch: LogBatch): Buffer {
  if (!expected(batch)) return Buffer.from(LogBatch.encode(batch).finish());
  const entryBytes = batch.entries.map(entrySize);
  let size = 0;
  if (batch.volume !== '') size += 1 + lengthDelimitedSize(Buffer.byteLength(batch.volume));
  if (batch.epoch !== 0) size += 1 + varintSize(batch.epoch);
  if (batch.session !== 0) size += 1 + varintSize(batch.session);
  if (batch.hello) size += 2;
  for (const bytes of entryBytes) size += 1 + lengthDelimitedSize(bytes);
  if (batch.truncateAfterSeq !== undefined) size += 1 + varintSize(batch.truncateAfterSeq);
  if (batch.trimSeq !== 0) size += 1 + varintSize(batch.trimSeq);
  if (batch.primaryAppliedSeq !== 0) size += 1 + varintSize(batch.primaryAppliedSeq);
  if (batch.commitSeq !== 0) size += 1 + varintSize(batch.commitSeq);
  if (batch.fromNode !== '') size += 1 + lengthDelimitedSize(Buffer.byteLength(batch.fromNode));

  const out = Buffer.allocUnsafe(size);
  let at = 0;
  const varint = (value: number): void => {
    let rest = value;
    while (rest >= 0x80) {
      out[at++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    out[at++] = rest;
  };
  const field = (tag: number, value: number): void => {
    out[at++] = tag;
    varint(value);
  };
  const text = (tag: number, value: string): void => {
    out[at++] = tag;
    varint(Buffer.byteLength(value));
    at += out.write(value, at, 'utf8');
  };
  if (batch.volume !== '') text(TAG_VOLUME, batch.volume);
  if (batch.epoch !== 0) field(TAG_EPOCH, batch.epoch);
  if (batch.session !== 0) field(TAG_SESSION, batch.session);
  if (batch.hello) field(TAG_HELLO, 1);
  batch.entries.forEach((entry, index) => {
    field(TAG_ENTRY, entryBytes[index] ?? 0);
    if (entry.epoch !== 0) field(TAG_ENTRY_EPOCH, entry.epoch);
    if (entry.seq !== 0) field(TAG_ENTRY_SEQ, entry.seq);
    if (entry.offset !== 0) field(TAG_ENTRY_OFFSET, entry.offset);
    if (entry.length !== 0) field(TAG_ENTRY_LENGTH, entry.length);
    if (entry.kind !== 0) field(TAG_ENTRY_KIND, entry.kind);
    if (entry.crc32c !== 0) field(TAG_ENTRY_CRC, entry.crc32c);
    if (entry.payload.length !== 0) {
      field(TAG_ENTRY_PAYLOAD, entry.payload.length);
      out.set(entry.payload, at);
      at += entry.payload.length;
    }
  });
  if (batch.truncateAfterSeq !== undefined) field(TAG_TRUNCATE_AFTER, batch.truncateAfterSeq);
  if (batch.trimSeq !== 0) field(TAG_TRIM, batch.trimSeq);
  if (batch.primaryAppliedSeq !== 0) field(TAG_PRIMARY_APPLIED, batch.primaryAppliedSeq);
  if (batch.commitSeq !== 0) field(TAG_COMMIT, batch.commitSeq);
  if (batch.fromNode !== '') text(TAG_FROM_NODE, batch.fromNode);
  if (at !== size) throw new Error(`LogBatch encoder wrote ${at} bytes of ${size}`);
  return out;
}

function entrySize(entry: LogEntry): number {
  let size = 0;
  if (entry.epoch !== 0) size += 1 + varintSize(entry.epoch);
  if (entry.seq !== 0) size += 1 + varintSize(entry.seq);
  if (entry.offset !== 0) size += 1 + varintSize(entry.offset);
  if (entry.length !== 0) size += 1 + varintSize(entry.length);
  if (entry.kind !== 0) size += 1 + varintSize(entry.kind);
  if (entry.crc32c !== 0) size += 1 + varintSize(entry.crc32c);
  if (entry.payload.length !== 0) size += 1 + lengthDelimitedSize(entry.payload.length);
  return size;
}

function lengthDelimitedSize(bytes: number): number {
  return varintSize(bytes) + bytes;
}

function varintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) size += 1;
  return size;
}

/** Values the fast path encodes exactly as the generated encoder does. */
function expected(batch: LogBatch): boolean {
  const u64 = (value: number): boolean => Number.isSafeInteger(value) && value >= 0;
  const u32 = (value: number): boolean => Number.isInteger(value) && value >= 0 && value <= UINT32_MAX;
  return typeof batch.volume === 'string' && typeof batch.fromNode === 'string' && typeof batch.hello === 'boolean' &&
    u64(batch.epoch) && u64(batch.session) && u64(batch.trimSeq) && u64(batch.primaryAppliedSeq) && u64(batch.commitSeq) &&
    (batch.truncateAfterSeq === undefined || u64(batch.truncateAfterSeq)) &&
    batch.entries.every((entry) => u64(entry.epoch) && u64(entry.seq) && u64(entry.offset) && u32(entry.length) &&
      Number.isInteger(entry.kind) && entry.kind >= 0 && entry.kind <= INT32_MAX && u32(entry.crc32c) && entry.payload instanceof Uint8Array);
}
