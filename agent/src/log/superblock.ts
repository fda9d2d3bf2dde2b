// The superblock: the log's identity and the marks recovery starts from, in two slots (A at
// 0, B at 4 KiB). Every write goes to the slot holding the older generation, so a torn write
// leaves the other intact; and space released by a trim is reused only once BOTH slots
// record the new tail (superblock-keeper.ts), so whichever copy recovery falls back to, its
// tail still points at records that exist.
//
// Layout (little-endian, 128 bytes at the start of its 4 KiB slot):
//    0 8 bytes magic 'BUNKERLG'      8 u32 version          12 u32 encoded bytes (128)
//   16 16 bytes volume uid          32 u32 logId            36 u32 session
//   40 u64 sizeBytes                48 u64 generation       56 u64 epoch
//   64 u64 head                     72 u64 tail             80 u64 anchor epoch
//   88 u64 anchor seq               96 u64 durable seq     104 u64 applied seq
//  112 12 bytes zero               124 u32 CRC32C of bytes 0..124
// head: where the durable records ended when this copy was written (informational: recovery
// scans). tail: the first live record; anchor: epoch and sequence of the record before it.
import { epoch, seq, type Epoch, type Seq } from '@bunker/proto/ids';
import { crc32c } from './crc32c.js';
import { DATA_START_POSITION, ENTRY_ALIGN_BYTES, readU64, SUPERBLOCK_SLOT_BYTES, writeU64 } from './format.js';
import { VOLUME_UID_BYTES } from './volume-uid.js';

export const SUPERBLOCK_BYTES = 128;
export const SUPERBLOCK_VERSION = 1;
const MAGIC = new TextEncoder().encode('BUNKERLG');
/** The smallest data region a log may have. */
export const REGION_BYTES_MIN = 4096;

export type SlotIndex = 0 | 1;
export const slotPosition = (slot: SlotIndex): number => slot * SUPERBLOCK_SLOT_BYTES;

export interface Superblock {
  readonly volumeUid: Uint8Array;
  readonly logId: number;
  readonly session: number;
  readonly sizeBytes: number;
  readonly generation: number;
  readonly epoch: Epoch;
  readonly head: number;
  readonly tail: number;
  readonly anchorEpoch: Epoch;
  readonly anchorSeq: Seq;
  readonly durableSeq: Seq;
  readonly appliedSeq: Seq;
}

const U64_FIELDS = [
  ['sizeBytes', 40], ['generation', 48], ['epoch', 56], ['head', 64], ['tail', 72],
  ['anchorEpoch', 80], ['anchorSeq', 88], ['durableSeq', 96], ['appliedSeq', 104],
] as const;

export function encodeSuperblock(superblock: Superblock): Uint8Array {
  const bytes = new Uint8Array(SUPERBLOCK_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint32(8, SUPERBLOCK_VERSION, true);
  view.setUint32(12, SUPERBLOCK_BYTES, true);
  bytes.set(superblock.volumeUid, 16);
  view.setUint32(32, superblock.logId, true);
  view.setUint32(36, superblock.session, true);
  for (const [field, at] of U64_FIELDS) writeU64(view, at, superblock[field]);
  view.setUint32(124, crc32c(bytes.subarray(0, 124)), true);
  return bytes;
}

export type SuperblockDecode = { readonly superblock: Superblock } | { readonly problem: string };

/** Decodes a slot's bytes; any content gives a superblock or a problem, never an exception. */
export function decodeSuperblock(bytes: Uint8Array): SuperblockDecode {
  if (bytes.length < SUPERBLOCK_BYTES) return { problem: 'short read' };
  const view = new DataView(bytes.buffer, bytes.byteOffset, SUPERBLOCK_BYTES);
  if (!MAGIC.every((byte, index) => bytes[index] === byte)) return { problem: 'no superblock magic' };
  if (view.getUint32(124, true) !== crc32c(bytes.subarray(0, 124))) return { problem: 'checksum mismatch' };
  if (view.getUint32(8, true) !== SUPERBLOCK_VERSION) return { problem: `unknown version ${view.getUint32(8, true)}` };
  if (view.getUint32(12, true) !== SUPERBLOCK_BYTES || bytes.subarray(112, 124).some((byte) => byte !== 0)) {
    return { problem: 'malformed header' };
  }
  const numbers = new Map<string, number>();
  for (const [field, at] of U64_FIELDS) {
    const value = readU64(view, at);
    if (value === undefined) return { problem: `${field} exceeds 2^53` };
    numbers.set(field, value);
  }
  const get = (field: (typeof U64_FIELDS)[number][0]): number => numbers.get(field) ?? 0;
  const superblock: Superblock = {
    volumeUid: bytes.slice(16, 16 + VOLUME_UID_BYTES), logId: view.getUint32(32, true), session: view.getUint32(36, true),
    sizeBytes: get('sizeBytes'), generation: get('generation'), epoch: epoch(get('epoch')),
    head: get('head'), tail: get('tail'), anchorEpoch: epoch(get('anchorEpoch')), anchorSeq: seq(get('anchorSeq')),
    durableSeq: seq(get('durableSeq')), appliedSeq: seq(get('appliedSeq')),
  };
  const problem = inconsistency(superblock);
  return problem === undefined ? { superblock } : { problem };
}

/** Cross-field rules every superblock this code writes obeys. */
function inconsistency(sb: Superblock): string | undefined {
  if (sb.sizeBytes < DATA_START_POSITION + REGION_BYTES_MIN || sb.sizeBytes % ENTRY_ALIGN_BYTES !== 0) return 'bad log size';
  const inRegion = (position: number): boolean =>
    position >= DATA_START_POSITION && position < sb.sizeBytes && position % ENTRY_ALIGN_BYTES === 0;
  if (!inRegion(sb.head) || !inRegion(sb.tail)) return 'head or tail outside the data region';
  if (!(sb.anchorSeq <= sb.appliedSeq && sb.appliedSeq <= sb.durableSeq)) return 'marks out of order';
  if (sb.anchorEpoch > sb.epoch || sb.logId === 0) return 'bad epoch or log id';
  return undefined;
}

export interface ChosenSuperblock {
  readonly superblock: Superblock;
  readonly slot: SlotIndex;
  /** Generation of the other slot, or -1 when it holds no valid copy. */
  readonly otherGeneration: number;
}

/** The newest valid copy, or undefined when neither slot holds one. */
export function chooseSuperblock(copies: readonly [SuperblockDecode, SuperblockDecode]): ChosenSuperblock | undefined {
  const slots: readonly SlotIndex[] = [0, 1];
  const valid = slots
    .flatMap((slot) => {
      const copy = copies[slot];
      return 'superblock' in copy ? [{ superblock: copy.superblock, slot }] : [];
    })
    .sort((x, y) => y.superblock.generation - x.superblock.generation);
  const [newest, other] = valid;
  if (newest === undefined) return undefined;
  return { superblock: newest.superblock, slot: newest.slot, otherGeneration: other?.superblock.generation ?? -1 };
}
