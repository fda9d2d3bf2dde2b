// The set of dirty regions of a volume since a point in its history: kept by a primary
// promoted by takeover (from the drain's start on) so that a failback copies only what
// changed. Bounded by the volume's region count; the driver persists each newly dirty region.
import type { Entry } from '../log/entry.js';
import { assert } from './assert.js';

export class ChangeMap {
  private readonly dirty = new Set<number>();
  readonly regionCount: number;

  constructor(
    readonly regionBytes: number,
    volumeBytes: number,
    initial: Iterable<number> = [],
  ) {
    assert(regionBytes > 0 && volumeBytes > 0, 'change map needs positive sizes');
    this.regionCount = Math.ceil(volumeBytes / regionBytes);
    for (const region of initial) this.add(region);
  }

  /** Marks the regions an entry touches; returns the ones that were clean until now. */
  mark(entry: Entry): number[] {
    const fresh: number[] = [];
    for (const region of regionsOf(entry.offset, entry.length, this.regionBytes)) {
      if (this.add(region)) fresh.push(region);
    }
    return fresh;
  }

  regions(): number[] {
    return [...this.dirty].sort((a, b) => a - b);
  }

  get size(): number {
    return this.dirty.size;
  }

  clear(): void {
    this.dirty.clear();
  }

  private add(region: number): boolean {
    assert(Number.isInteger(region) && region >= 0 && region < this.regionCount, `region ${region} outside the volume`);
    if (this.dirty.has(region)) return false;
    this.dirty.add(region);
    return true;
  }
}

/** Region indices covered by the byte range [offset, offset + length). */
export function regionsOf(offset: number, length: number, regionBytes: number): number[] {
  if (length <= 0) return [];
  const first = Math.floor(offset / regionBytes);
  const last = Math.floor((offset + length - 1) / regionBytes);
  const out: number[] = [];
  for (let region = first; region <= last; region += 1) out.push(region);
  return out;
}
