// An in-memory Storage for tests and the simulation, with the fault model of storage.ts made
// concrete and reproducible from a seeded Random:
//  - every write lands in the "current" image at once (reads see it), and is recorded as
//    unsynced; `datasync` moves the writes issued before it into the "synced" image;
//  - `crash()` returns the storage as a restarted machine would find it: the synced image
//    plus, depending on the mode, some of the unsynced writes, one of them torn at a random
//    byte; this instance is dead afterwards (every call rejects), like a powered-off disk;
//  - every operation completes after 1 to `latencyMacrotasksMax` macrotasks (random), so a
//    test can crash "in the middle" of a group commit by letting macrotasks run first, and
//    operations may complete out of order (a datasync after a later write), as on a disk;
//  - `failNext(op)` makes the next call of that operation reject, to test I/O errors.
// The unsynced list grows only between two datasync calls of the code under test.
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { randomInt, type Random } from './seeded-random.js';
import type { Storage } from './storage.js';

type Op = 'read' | 'writev' | 'datasync' | 'size';

export type CrashMode =
  /** Everything not synced is lost. */
  | 'dropUnsynced'
  /** Unsynced writes survive in issue order up to a random one, which is torn at a random byte. */
  | 'tornPrefix'
  /** Each 512-byte sector of each unsynced write survives or not independently (disks reorder
   *  writes), and one surviving sector is torn at a random byte. */
  | 'anySectors';

interface PendingWrite {
  readonly position: number;
  readonly bytes: Uint8Array;
}

const SECTOR_BYTES = 512;

class Image {
  bytes: Uint8Array;
  length: number;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes.slice();
    this.length = bytes.length;
  }

  write(position: number, data: Uint8Array): void {
    const end = position + data.length;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(data, position);
    this.length = Math.max(this.length, end);
  }

  copy(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

export class MemoryStorage implements Storage {
  private readonly current: Image;
  private readonly synced: Image;
  private unsynced: PendingWrite[] = [];
  private readonly random: Random;
  private readonly failures = new Map<Op, Error>();
  private dead = false;
  /** Operations started so far; lets a test crash after a chosen number of them. */
  opsCount = 0;

  /** A storage whose initial bytes (empty by default) are all durable. */
  constructor(
    random: Random,
    initial: Uint8Array = new Uint8Array(0),
    private readonly latencyMacrotasksMax = 1,
  ) {
    this.random = random;
    this.current = new Image(initial);
    this.synced = new Image(initial);
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    await this.begin('read');
    const end = Math.min(position + length, this.current.length);
    return this.current.bytes.slice(Math.min(position, end), end);
  }

  async writev(position: number, buffers: readonly Uint8Array[]): Promise<void> {
    // The bytes land before the first await: a crash while this call is pending may keep them.
    this.assertAlive();
    let at = position;
    for (const buffer of buffers) {
      const bytes = buffer.slice();
      this.current.write(at, bytes);
      this.unsynced.push({ position: at, bytes });
      at += bytes.length;
    }
    await this.begin('writev');
  }

  async datasync(): Promise<void> {
    const issued = this.unsynced.length;
    await this.begin('datasync');
    for (const write of this.unsynced.slice(0, issued)) this.synced.write(write.position, write.bytes);
    this.unsynced = this.unsynced.slice(issued);
  }

  async size(): Promise<number> {
    await this.begin('size');
    return this.current.length;
  }

  async close(): Promise<void> {
    this.assertAlive();
    await nextMacrotask();
  }

  /** Makes the next call of `op` reject with `error`. */
  failNext(op: Op, error: Error = new Error(`injected ${op} failure`)): void {
    this.failures.set(op, error);
  }

  /** What a reader sees now, durable or not. */
  bytes(): Uint8Array {
    return this.current.copy();
  }

  /** The storage as the machine finds it after losing power now; this instance dies. */
  crash(mode: CrashMode): MemoryStorage {
    this.assertAlive();
    this.dead = true;
    const after = new Image(this.synced.copy());
    if (mode === 'tornPrefix') this.keepTornPrefix(after);
    else if (mode === 'anySectors') this.keepAnySectors(after);
    return new MemoryStorage(this.random, after.copy(), this.latencyMacrotasksMax);
  }

  private keepTornPrefix(after: Image): void {
    const kept = randomInt(this.random, this.unsynced.length + 1);
    this.unsynced.slice(0, kept).forEach((write) => after.write(write.position, write.bytes));
    const torn = this.unsynced[kept];
    if (torn !== undefined) after.write(torn.position, torn.bytes.subarray(0, randomInt(this.random, torn.bytes.length)));
  }

  private keepAnySectors(after: Image): void {
    const survivors: PendingWrite[] = [];
    for (const write of this.unsynced) {
      for (const sector of sectorsOf(write)) if (this.random() < 0.5) survivors.push(sector);
    }
    const tornIndex = randomInt(this.random, survivors.length + 1);
    survivors.forEach((sector, index) => {
      const bytes = index === tornIndex ? sector.bytes.subarray(0, randomInt(this.random, sector.bytes.length)) : sector.bytes;
      after.write(sector.position, bytes);
    });
  }

  private async begin(op: Op): Promise<void> {
    this.assertAlive();
    this.opsCount += 1;
    const latency = 1 + randomInt(this.random, this.latencyMacrotasksMax);
    for (let tick = 0; tick < latency; tick += 1) await nextMacrotask();
    this.assertAlive();
    const failure = this.failures.get(op);
    if (failure !== undefined) {
      this.failures.delete(op);
      throw failure;
    }
  }

  private assertAlive(): void {
    if (this.dead) throw new Error('storage is gone: the machine crashed');
  }
}

/** Splits a write at the storage's 512-byte sector boundaries. */
function sectorsOf(write: PendingWrite): PendingWrite[] {
  const sectors: PendingWrite[] = [];
  let at = write.position;
  const end = write.position + write.bytes.length;
  while (at < end) {
    const next = Math.min(end, (Math.floor(at / SECTOR_BYTES) + 1) * SECTOR_BYTES);
    sectors.push({ position: at, bytes: write.bytes.subarray(at - write.position, next - write.position) });
    at = next;
  }
  return sectors;
}
