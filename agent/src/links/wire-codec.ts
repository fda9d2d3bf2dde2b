// Translation between the replication core's peer messages and the protobuf messages of
// proto/bunker/v1/replication.proto. Decoding is where untrusted bytes become typed values:
// every sequence and epoch is checked to be a safe integer, entry kinds are closed, and each
// entry's CRC32C (over its header fields and payload) is verified, so a corrupted or hostile
// message is refused here and never reaches the core or a log.
import { EntryKind, type FetchBlock, type FetchRequest, type LogAck, type LogBatch, type LogEntry } from '@bunker/proto';
import { BunkerError } from '@bunker/proto/bunker-error';
import type { Epoch, Seq } from '@bunker/proto/ids';
import type { Entry, EntryKind as CoreEntryKind } from '../log/entry.js';
import { crc32c, crc32cAfter } from '../log/crc32c.js';
import { writeU64 } from '../log/format.js';
import type {
  AppendAckMessage, AppendMessage, FetchBlockMessage, FetchRequestMessage, ShipAckMessage, ShipMessage,
} from '../replication/index.js';

export class WireError extends BunkerError<'InvalidArgument' | 'Corrupt'> {}

const KIND_TO_WIRE: Readonly<Record<CoreEntryKind, EntryKind>> = {
  write: EntryKind.ENTRY_KIND_WRITE,
  trim: EntryKind.ENTRY_KIND_TRIM,
  zero: EntryKind.ENTRY_KIND_ZERO,
  flush: EntryKind.ENTRY_KIND_FLUSH,
};

function kindFromWire(kind: EntryKind): CoreEntryKind {
  switch (kind) {
    case EntryKind.ENTRY_KIND_WRITE: return 'write';
    case EntryKind.ENTRY_KIND_TRIM: return 'trim';
    case EntryKind.ENTRY_KIND_ZERO: return 'zero';
    case EntryKind.ENTRY_KIND_FLUSH: return 'flush';
    default: throw new WireError('InvalidArgument', `unknown entry kind ${kind}`);
  }
}

function safe(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new WireError('InvalidArgument', `${field} ${value} is not a non-negative safe integer`);
  return value;
}
const asSeq = (value: number, field: string): Seq => safe(value, field) as Seq;
const asEpoch = (value: number, field: string): Epoch => safe(value, field) as Epoch;

/** CRC32C over the entry's header fields (little-endian, fixed layout) and its payload. */
export function wireEntryCrc(entry: { epoch: number; seq: number; offset: number; length: number; kind: CoreEntryKind; payload: Uint8Array }): number {
  // One scratch header for every call (this runs synchronously, once per entry per agent); the
  // u64 fields as two little-endian words, without a BigInt per field.
  writeU64(wireHeaderView, 0, entry.epoch);
  writeU64(wireHeaderView, 8, entry.seq);
  writeU64(wireHeaderView, 16, entry.offset);
  wireHeaderView.setUint32(24, entry.length, true);
  wireHeaderView.setUint32(28, KIND_TO_WIRE[entry.kind], true);
  return crc32cAfter(crc32c(wireHeader), entry.payload);
}

const wireHeader = new Uint8Array(32);
const wireHeaderView = new DataView(wireHeader.buffer);

/**
 * Wire CRCs already computed, by entry: the primary sends each entry to the bunker and to the
 * secondary (and may resend it), and a CRC over a 1 MiB payload costs as much as a copy.
 * Entries are never modified once made (a log append holds the same rule), so the CRC of an
 * entry object stays valid; the map holds nothing once the entry is garbage.
 */
const wireCrcs = new WeakMap<Entry, number>();

function cachedWireCrc(entry: Entry): number {
  let crc = wireCrcs.get(entry);
  if (crc === undefined) {
    crc = wireEntryCrc(entry);
    wireCrcs.set(entry, crc);
  }
  return crc;
}

export function entryToWire(entry: Entry): LogEntry {
  return {
    epoch: entry.epoch, seq: entry.seq, offset: entry.offset, length: entry.length,
    kind: KIND_TO_WIRE[entry.kind], crc32c: cachedWireCrc(entry),
    payload: Buffer.from(entry.payload.buffer, entry.payload.byteOffset, entry.payload.byteLength),
  };
}

export function entryFromWire(wire: LogEntry, limits: { volumeBytes: number; entryBytesMax: number }): Entry {
  const kind = kindFromWire(wire.kind);
  const entry: Entry = {
    epoch: asEpoch(wire.epoch, 'entry epoch'),
    seq: asSeq(wire.seq, 'entry seq'),
    offset: safe(wire.offset, 'entry offset'),
    length: safe(wire.length, 'entry length'),
    kind,
    payload: wire.payload,
  };
  if (entry.offset + entry.length > limits.volumeBytes) throw new WireError('InvalidArgument', `entry ${entry.seq} covers ${entry.offset}+${entry.length}, past the volume's ${limits.volumeBytes} bytes`);
  if (kind === 'write' ? entry.payload.length !== entry.length : entry.payload.length !== 0) throw new WireError('InvalidArgument', `entry ${entry.seq}: payload of ${entry.payload.length} bytes does not match a ${kind} of ${entry.length}`);
  if (entry.payload.length > limits.entryBytesMax) throw new WireError('InvalidArgument', `entry ${entry.seq}: payload of ${entry.payload.length} bytes exceeds ${limits.entryBytesMax}`);
  if (wireEntryCrc(entry) !== wire.crc32c >>> 0) throw new WireError('Corrupt', `entry ${entry.seq}: CRC32C mismatch`);
  return entry;
}

export type EntryLimits = Parameters<typeof entryFromWire>[1];

export function batchToWire(volume: string, fromNode: string, message: AppendMessage | ShipMessage): LogBatch {
  const common = {
    volume, fromNode, epoch: message.epoch, session: message.session, hello: message.hello,
    entries: message.entries.map(entryToWire),
  };
  return message.kind === 'append'
    ? { ...common, trimSeq: message.trimSeq, primaryAppliedSeq: message.primaryAppliedSeq, commitSeq: 0, ...(message.truncateAfterSeq === null ? {} : { truncateAfterSeq: message.truncateAfterSeq }) }
    : { ...common, trimSeq: 0, primaryAppliedSeq: 0, commitSeq: message.commitSeq };
}

export function appendFromWire(batch: LogBatch, limits: EntryLimits): AppendMessage {
  return {
    kind: 'append',
    epoch: asEpoch(batch.epoch, 'epoch'),
    session: safe(batch.session, 'session'),
    hello: batch.hello,
    truncateAfterSeq: batch.truncateAfterSeq === undefined ? null : asSeq(batch.truncateAfterSeq, 'truncateAfterSeq'),
    entries: batch.entries.map((e) => entryFromWire(e, limits)),
    trimSeq: asSeq(batch.trimSeq, 'trimSeq'),
    primaryAppliedSeq: asSeq(batch.primaryAppliedSeq, 'primaryAppliedSeq'),
  };
}

export function shipFromWire(batch: LogBatch, limits: EntryLimits): ShipMessage {
  return {
    kind: 'ship',
    epoch: asEpoch(batch.epoch, 'epoch'),
    session: safe(batch.session, 'session'),
    hello: batch.hello,
    entries: batch.entries.map((e) => entryFromWire(e, limits)),
    commitSeq: asSeq(batch.commitSeq, 'commitSeq'),
  };
}

export function ackToWire(volume: string, message: AppendAckMessage | ShipAckMessage): LogAck {
  return {
    volume, epoch: message.epoch, session: message.session, hello: message.hello, durableSeq: message.durableSeq,
    appliedSeq: message.kind === 'ship-ack' ? message.appliedSeq : 0, staleEpoch: false,
  };
}

export function ackFromWire(ack: LogAck, stream: 'append' | 'ship'): AppendAckMessage | ShipAckMessage {
  const common = { epoch: asEpoch(ack.epoch, 'epoch'), session: safe(ack.session, 'session'), hello: ack.hello, durableSeq: asSeq(ack.durableSeq, 'durableSeq') };
  return stream === 'append' ? { kind: 'append-ack', ...common } : { kind: 'ship-ack', ...common, appliedSeq: asSeq(ack.appliedSeq, 'appliedSeq') };
}

export function fetchRequestToWire(volume: string, fromNode: string, message: FetchRequestMessage): FetchRequest {
  return { volume, fromNode, epoch: message.epoch, afterSeq: message.afterSeq, maxBytes: message.maxBytes, maxEntries: message.maxEntries };
}

export function fetchRequestFromWire(request: FetchRequest): FetchRequestMessage {
  return {
    kind: 'fetch-request',
    epoch: asEpoch(request.epoch, 'epoch'),
    afterSeq: asSeq(request.afterSeq, 'afterSeq'),
    maxEntries: safe(request.maxEntries, 'maxEntries'),
    maxBytes: safe(request.maxBytes, 'maxBytes'),
  };
}

export function fetchBlockToWire(message: FetchBlockMessage): FetchBlock {
  return {
    epoch: message.epoch, afterSeq: message.afterSeq, entries: message.entries.map(entryToWire),
    bunkerDurableSeq: message.bunkerDurableSeq, bunkerFirstSeq: message.bunkerFirstSeq,
    primaryAppliedSeq: message.primaryAppliedSeq, staleEpoch: false,
  };
}

export function fetchBlockFromWire(block: FetchBlock, limits: EntryLimits): FetchBlockMessage {
  return {
    kind: 'fetch-block',
    epoch: asEpoch(block.epoch, 'epoch'),
    afterSeq: asSeq(block.afterSeq, 'afterSeq'),
    entries: block.entries.map((e) => entryFromWire(e, limits)),
    bunkerDurableSeq: asSeq(block.bunkerDurableSeq, 'bunkerDurableSeq'),
    bunkerFirstSeq: asSeq(block.bunkerFirstSeq, 'bunkerFirstSeq'),
    primaryAppliedSeq: asSeq(block.primaryAppliedSeq, 'primaryAppliedSeq'),
  };
}
