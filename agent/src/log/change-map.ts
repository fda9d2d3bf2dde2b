// The change map: a persisted bitmap of the volume's dirty regions, one bit per
// `granularityBytes`. The primary marks writes here when its change log is full (fill
// policy trackChanges) and resynchronizes the marked regions later; failback uses it too.
//
// Persistence follows the superblock's rule: two copies (slot A at 0, slot B after it),
// each a header plus the whole bitmap under one CRC32C, written alternately with a growing
// generation; `open` takes the newest valid copy, so a torn flush leaves the previous one.
//
//   0 8 bytes magic 'BUNKRMAP'   8 u32 version      12 u32 header bytes (64)
//  16 16 bytes volume uid       32 u64 volumeBytes  40 u64 granularityBytes
//  48 u64 generation            56 u32 bitmapBytes  60 u32 CRC32C of bytes 0..60 and the bitmap
//  64 bitmap, bit i (byte i >> 3, bit i & 7) covers [i * granularity, (i + 1) * granularity)
import { crc32c } from './crc32c.js';
import { ioError, LogError } from './errors.js';
import { alignUp, readU64, writeU64 } from './format.js';
import type { Storage } from './storage.js';
import { formatVolumeUid, parseVolumeUid, sameVolumeUid, VOLUME_UID_BYTES } from './volume-uid.js';

const MAGIC = new TextEncoder().encode('BUNKRMAP');
const VERSION = 1;
const HEADER_BYTES = 64;
const SLOT_ALIGN_BYTES = 4096;
/** Keeps a flush (a whole-bitmap write) short: 64 MiB covers 512 Ti granules. */
export const CHANGE_MAP_BITMAP_BYTES_MAX = 64 * 1024 * 1024;

export interface ChangeMapCreateOptions {
  readonly volumeUid: string;
  readonly volumeBytes: number;
  readonly granularityBytes: number;
}

export interface Region {
  readonly offset: number;
  readonly length: number;
}

interface Geometry {
  readonly volumeUid: Uint8Array;
  readonly volumeBytes: number;
  readonly granularityBytes: number;
}

export class ChangeMap {
  private version = 0;
  private flushedVersion = 0;
  private flushes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly storage: Storage,
    private readonly geometry: Geometry,
    private readonly bitmap: Uint8Array,
    private generation: number,
  ) {}

  /** A new, clean map, durable before this resolves. */
  static async create(storage: Storage, options: ChangeMapCreateOptions): Promise<ChangeMap> {
    const { volumeBytes, granularityBytes } = options;
    if (!Number.isSafeInteger(volumeBytes) || volumeBytes < 1 || !Number.isSafeInteger(granularityBytes) || granularityBytes < 1) {
      throw new RangeError(`volumeBytes and granularityBytes must be positive integers, got ${volumeBytes} and ${granularityBytes}`);
    }
    const bitmapBytes = bitmapBytesFor(volumeBytes, granularityBytes);
    if (bitmapBytes > CHANGE_MAP_BITMAP_BYTES_MAX) {
      throw new LogError('TooLarge', `a ${granularityBytes}-byte granularity needs a ${bitmapBytes}-byte bitmap for ${volumeBytes} bytes`);
    }
    const geometry = { volumeUid: parseVolumeUid(options.volumeUid), volumeBytes, granularityBytes };
    const map = new ChangeMap(storage, geometry, new Uint8Array(bitmapBytes), 0);
    try {
      const storageBytes = 2 * slotBytesFor(bitmapBytes);
      if ((await storage.size()) < storageBytes) await storage.writev(storageBytes - 1, [new Uint8Array(1)]);
    } catch (cause) {
      throw ioError('creating the change map', cause);
    }
    // Both copies, so that no older map left in the storage can ever win over this one.
    map.version = 1;
    await map.flushOnce();
    map.version = 2;
    await map.flushOnce();
    return map;
  }

  /** The newest valid copy; Corrupt when neither is, WrongVolume for another volume's map. */
  static async open(storage: Storage, options: { readonly volumeUid: string }): Promise<ChangeMap> {
    const volumeUid = parseVolumeUid(options.volumeUid);
    try {
      const a = await readCopy(storage, 0);
      // Both slots have the same size, and `create` sized the storage to hold exactly two.
      const slotBytes = 'copy' in a ? slotBytesFor(a.copy.bitmap.length) : alignUp(Math.floor((await storage.size()) / 2), SLOT_ALIGN_BYTES);
      const b = await readCopy(storage, Math.max(slotBytes, SLOT_ALIGN_BYTES));
      const copies = [a, b].flatMap((decoded) => ('copy' in decoded ? [decoded.copy] : []));
      const newest = copies.sort((x, y) => y.generation - x.generation)[0];
      if (newest === undefined) {
        const problems = [a, b].map((decoded) => ('problem' in decoded ? decoded.problem : 'valid'));
        throw new LogError('Corrupt', `no valid change map copy (A: ${problems[0]}; B: ${problems[1]})`);
      }
      if (!sameVolumeUid(newest.geometry.volumeUid, volumeUid)) {
        throw new LogError('WrongVolume', `change map belongs to volume ${formatVolumeUid(newest.geometry.volumeUid)}, not ${formatVolumeUid(volumeUid)}`);
      }
      return new ChangeMap(storage, newest.geometry, newest.bitmap, newest.generation);
    } catch (error) {
      throw ioError('opening the change map', error);
    }
  }

  get granularityBytes(): number {
    return this.geometry.granularityBytes;
  }

  get volumeBytes(): number {
    return this.geometry.volumeBytes;
  }

  /** Whether marks were made since the last flush. */
  get dirty(): boolean {
    return this.version !== this.flushedVersion;
  }

  /** Marks the granules `[offset, offset + length)` touches; true when any was clean. */
  mark(offset: number, length: number): boolean {
    const range = this.granules(offset, length);
    let changed = false;
    for (let granule = range.first; granule <= range.last; granule += 1) {
      const bit = 1 << (granule & 7);
      const byte = this.bitmap[granule >> 3] ?? 0;
      if ((byte & bit) === 0) {
        this.bitmap[granule >> 3] = byte | bit;
        changed = true;
      }
    }
    if (changed) this.version += 1;
    return changed;
  }

  /** The dirty regions in order, adjacent granules merged, clipped to the volume. */
  *regions(): Generator<Region, void, undefined> {
    const count = granuleCount(this.geometry.volumeBytes, this.geometry.granularityBytes);
    let runStart = -1;
    for (let granule = 0; granule <= count; granule += 1) {
      const set = granule < count && ((this.bitmap[granule >> 3] ?? 0) & (1 << (granule & 7))) !== 0;
      if (set && runStart < 0) runStart = granule;
      if (!set && runStart >= 0) {
        const offset = runStart * this.geometry.granularityBytes;
        yield { offset, length: Math.min(granule * this.geometry.granularityBytes, this.geometry.volumeBytes) - offset };
        runStart = -1;
      }
    }
  }

  /** Forgets every mark (after a full resynchronization). Durable after `flush`. */
  clear(): void {
    this.bitmap.fill(0);
    this.version += 1;
  }

  /** Forgets the marks of a resynchronized region, which must be granule-aligned. */
  clearRegion(offset: number, length: number): void {
    const g = this.geometry.granularityBytes;
    const end = offset + length;
    if (offset % g !== 0 || (end % g !== 0 && end !== this.geometry.volumeBytes)) {
      throw new RangeError(`clearRegion(${offset}, ${length}) is not aligned to the ${g}-byte granularity`);
    }
    const range = this.granules(offset, length);
    for (let granule = range.first; granule <= range.last; granule += 1) {
      const byte = this.bitmap[granule >> 3] ?? 0;
      this.bitmap[granule >> 3] = byte & ~(1 << (granule & 7));
    }
    this.version += 1;
  }

  /**
   * Makes every mark made before this call durable. Concurrent calls share writes: each
   * runs after the previous one and writes only if something changed since.
   */
  flush(): Promise<void> {
    const run = this.flushes.then(() => this.flushOnce());
    this.flushes = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.flushes;
    try {
      await this.storage.close();
    } catch (cause) {
      throw ioError('closing the change map', cause);
    }
  }

  private async flushOnce(): Promise<void> {
    if (this.version === this.flushedVersion) return;
    const version = this.version;
    const generation = this.generation + 1;
    const bytes = encodeCopy(this.geometry, this.bitmap, generation);
    const slot = generation % 2;
    try {
      await this.storage.writev(slot * slotBytesFor(this.bitmap.length), [bytes]);
      await this.storage.datasync();
    } catch (cause) {
      throw ioError('flushing the change map', cause);
    }
    this.generation = generation;
    this.flushedVersion = version;
  }

  private granules(offset: number, length: number): { readonly first: number; readonly last: number } {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.geometry.volumeBytes) {
      throw new RangeError(`region ${offset}+${length} is outside the ${this.geometry.volumeBytes}-byte volume`);
    }
    const g = this.geometry.granularityBytes;
    return { first: Math.floor(offset / g), last: length === 0 ? -1 : Math.floor((offset + length - 1) / g) };
  }
}

const granuleCount = (volumeBytes: number, granularityBytes: number): number => Math.ceil(volumeBytes / granularityBytes);
const bitmapBytesFor = (volumeBytes: number, granularityBytes: number): number => Math.ceil(granuleCount(volumeBytes, granularityBytes) / 8);
const slotBytesFor = (bitmapBytes: number): number => alignUp(HEADER_BYTES + bitmapBytes, SLOT_ALIGN_BYTES);

function encodeCopy(geometry: Geometry, bitmap: Uint8Array, generation: number): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + bitmap.length);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint32(8, VERSION, true);
  view.setUint32(12, HEADER_BYTES, true);
  bytes.set(geometry.volumeUid, 16);
  writeU64(view, 32, geometry.volumeBytes);
  writeU64(view, 40, geometry.granularityBytes);
  writeU64(view, 48, generation);
  view.setUint32(56, bitmap.length, true);
  bytes.set(bitmap, HEADER_BYTES);
  view.setUint32(60, crc32c(bitmap, crc32c(bytes.subarray(0, 60))), true);
  return bytes;
}

interface Copy {
  readonly geometry: Geometry;
  readonly generation: number;
  readonly bitmap: Uint8Array;
}

/** Any bytes give a copy or a problem, never an exception. */
function decodeCopy(bytes: Uint8Array): { readonly copy: Copy } | { readonly problem: string } {
  if (bytes.length < HEADER_BYTES) return { problem: 'short read' };
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (!MAGIC.every((byte, index) => bytes[index] === byte)) return { problem: 'no change map magic' };
  const volumeBytes = readU64(view, 32);
  const granularityBytes = readU64(view, 40);
  const generation = readU64(view, 48);
  const bitmapBytes = view.getUint32(56, true);
  if (bytes.length < HEADER_BYTES + bitmapBytes) return { problem: 'short read' };
  const bitmap = bytes.subarray(HEADER_BYTES, HEADER_BYTES + bitmapBytes);
  if (view.getUint32(60, true) !== crc32c(bitmap, crc32c(bytes.subarray(0, 60)))) return { problem: 'checksum mismatch' };
  if (
    view.getUint32(8, true) !== VERSION || view.getUint32(12, true) !== HEADER_BYTES || volumeBytes === undefined ||
    granularityBytes === undefined || generation === undefined || volumeBytes < 1 || granularityBytes < 1 ||
    bitmapBytes !== bitmapBytesFor(volumeBytes, granularityBytes)
  ) {
    return { problem: 'malformed header' };
  }
  const geometry = { volumeUid: bytes.slice(16, 16 + VOLUME_UID_BYTES), volumeBytes, granularityBytes };
  return { copy: { geometry, generation, bitmap: bitmap.slice() } };
}

/** The copy at `position`: the header first, then as much bitmap as it announces. */
async function readCopy(storage: Storage, position: number): Promise<{ readonly copy: Copy } | { readonly problem: string }> {
  const header = await storage.read(position, HEADER_BYTES);
  if (header.length < HEADER_BYTES) return { problem: 'short read' };
  const bitmapBytes = new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getUint32(56, true);
  if (bitmapBytes > CHANGE_MAP_BITMAP_BYTES_MAX) return { problem: 'malformed header' };
  return decodeCopy(await storage.read(position, HEADER_BYTES + bitmapBytes));
}
