// Fault model of one node's storage, as the simulation sees it:
//  - change log: appends land unsynced; a sync makes everything written so far durable (group
//    commit). A crash keeps the durable prefix and a random prefix of the unsynced tail (the
//    drive may or may not have written it), and may tear the last surviving entry, which the
//    recovery scan then cuts (checksum mismatch): a torn tail is never replayed.
//  - data volume: writes land in a cache; a sync makes them durable. A crash keeps any random
//    subset of the unsynced block writes (drives reorder), which is why entries above the
//    persisted applied mark are applied again on restart.
//  - superblock (intent, applied mark, change map, boot counter), staging log and cuts/trims:
//    persisted synchronously with fsync, as the driver's ordering rules demand.
//  - a failed data volume errors on every write until it is replaced (all zeroes).
import type { Seq } from '@bunker/proto/ids';
import { SEQ_NONE } from '@bunker/proto/ids';
import type { Entry } from '../../agent/src/log/entry.js';
import type { PersistedIntent } from '../../agent/src/replication/index.js';
import type { Prng } from './prng.js';

export interface CrashReport {
  readonly lostEntries: number;
  readonly tornSeq: Seq | null;
  readonly lostBlocks: number;
}

export class SimDisk {
  /** Entries in the log, contiguous, the first one at baseSeq + 1. */
  log: Entry[] = [];
  /** Sequence just below the first entry (trimmed through, or a reset's base). */
  baseSeq: Seq = SEQ_NONE;
  /** How many entries of `log`, from its start, are durable. */
  durableCount = 0;
  staging: Entry[] = [];
  intent: PersistedIntent;
  appliedMark: Seq = SEQ_NONE;
  changeMap = new Set<number>();
  bootCount = 0;
  dataFailed: string | null = null;
  volumeReplaced = false;
  /** The data volume as reads see it. */
  current: Uint8Array;
  /** What survives a crash for certain. */
  durable: Uint8Array;
  private dirtyBlocks = new Set<number>();

  constructor(
    readonly volumeBytes: number,
    readonly blockBytes: number,
    intent: PersistedIntent,
  ) {
    this.current = new Uint8Array(volumeBytes);
    this.durable = new Uint8Array(volumeBytes);
    this.intent = intent;
  }

  get lastSeq(): Seq {
    return (this.baseSeq + this.log.length) as Seq;
  }

  get durableSeq(): Seq {
    return (this.baseSeq + this.durableCount) as Seq;
  }

  get firstSeq(): Seq {
    return (this.baseSeq + 1) as Seq;
  }

  entry(seq: number): Entry | undefined {
    return this.log[seq - this.baseSeq - 1];
  }

  append(entry: Entry): boolean {
    if (entry.seq !== this.lastSeq + 1) return false;
    this.log.push(entry);
    return true;
  }

  syncLog(): Seq {
    this.durableCount = this.log.length;
    return this.durableSeq;
  }

  truncateAfter(seq: Seq): void {
    const keep = Math.max(0, seq - this.baseSeq);
    this.log.length = Math.min(this.log.length, keep);
    this.durableCount = Math.min(this.durableCount, this.log.length);
  }

  reset(baseSeq: Seq): void {
    this.log = [];
    this.durableCount = 0;
    this.baseSeq = baseSeq;
    this.appliedMark = baseSeq;
  }

  trimThrough(seq: Seq): void {
    const drop = Math.min(Math.max(0, seq - this.baseSeq), this.durableCount);
    if (drop === 0) return;
    this.log = this.log.slice(drop);
    this.durableCount -= drop;
    this.baseSeq = (this.baseSeq + drop) as Seq;
  }

  /** Durable entries (afterSeq, throughSeq], at most maxEntries. */
  read(afterSeq: Seq, throughSeq: Seq, maxEntries: number): Entry[] {
    const out: Entry[] = [];
    const last = Math.min(throughSeq, this.durableSeq);
    for (let seq = afterSeq + 1; seq <= last && out.length < maxEntries; seq += 1) {
      const entry = this.entry(seq);
      if (entry === undefined) break;
      out.push(entry);
    }
    return out;
  }

  writeVolume(entry: Entry): void {
    if (entry.kind === 'flush') return;
    if (entry.kind === 'write') this.current.set(entry.payload, entry.offset);
    else this.current.fill(0, entry.offset, entry.offset + entry.length);
    for (let b = entry.offset / this.blockBytes; b < (entry.offset + entry.length) / this.blockBytes; b += 1) this.dirtyBlocks.add(b);
  }

  syncVolume(): void {
    this.durable.set(this.current);
    this.dirtyBlocks.clear();
  }

  /** Overwrites a region of the volume durably (a failback copy). */
  copyRegion(offset: number, bytes: Uint8Array): void {
    this.current.set(bytes, offset);
    this.durable.set(bytes, offset);
  }

  replaceVolume(): void {
    this.current = new Uint8Array(this.volumeBytes);
    this.durable = new Uint8Array(this.volumeBytes);
    this.dirtyBlocks.clear();
    this.dataFailed = null;
    this.volumeReplaced = true;
  }

  crash(prng: Prng): CrashReport {
    const unsynced = this.log.length - this.durableCount;
    let survive = unsynced === 0 ? 0 : prng.int(unsynced + 1);
    let tornSeq: Seq | null = null;
    if (survive > 0 && prng.chance(0.3)) {
      tornSeq = (this.baseSeq + this.durableCount + survive) as Seq;
      survive -= 1; // the recovery scan cuts the torn entry
    }
    this.log.length = this.durableCount + survive;
    this.durableCount = this.log.length;
    let lostBlocks = 0;
    for (const block of this.dirtyBlocks) {
      if (prng.chance(0.5)) continue; // this unsynced write made it to the platter
      const at = block * this.blockBytes;
      this.current.set(this.durable.subarray(at, at + this.blockBytes), at);
      lostBlocks += 1;
    }
    this.durable.set(this.current);
    this.dirtyBlocks.clear();
    return { lostEntries: unsynced - survive, tornSeq, lostBlocks };
  }
}
