// Failback: which regions of a returning old primary must be copied from the new primary.
//
// The histories agree up to the divergence point D (the new primary's log tail when its
// takeover drain began: everything up to there was committed on the old primary, so it is
// durable in the old primary's log and on its volume once its incomplete writes are applied).
// After D they may differ in two ways, and the union covers both:
//  - entries the old primary took after D (its log past D: writes that never reached the
//    bunker, or reached it and were drained, or were never acknowledged);
//  - everything the new history holds after D: the drained entries and every write since
//    promotion, which is exactly the new primary's change map.
// Regions outside the union were last written at or before D on both sides: identical.
import type { Seq } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { regionsOf } from './change-map.js';

export interface DivergenceInput {
  readonly divergenceSeq: Seq;
  /** The returning replica's log entries (any order; those at or below the divergence point are ignored). */
  readonly returningEntries: Iterable<Entry>;
  /** The new primary's change map. */
  readonly changeMapRegions: readonly number[];
  readonly regionBytes: number;
}

/** Sorted, unique region indices to copy. */
export function divergentRegions(input: DivergenceInput): number[] {
  const regions = new Set<number>(input.changeMapRegions);
  for (const entry of input.returningEntries) {
    if (entry.seq <= input.divergenceSeq) continue;
    for (const region of regionsOf(entry.offset, entry.length, input.regionBytes)) regions.add(region);
  }
  return [...regions].sort((a, b) => a - b);
}

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** Adjacent regions merged into ranges, clipped to the volume: what the copy reads and writes. */
export function regionRanges(regions: readonly number[], regionBytes: number, volumeBytes: number): ByteRange[] {
  const ranges: ByteRange[] = [];
  let start: number | null = null;
  let end = 0;
  for (const region of [...regions].sort((a, b) => a - b)) {
    const offset = region * regionBytes;
    if (start !== null && offset === end) {
      end = Math.min(offset + regionBytes, volumeBytes);
      continue;
    }
    if (start !== null) ranges.push({ offset: start, length: end - start });
    start = offset;
    end = Math.min(offset + regionBytes, volumeBytes);
  }
  if (start !== null) ranges.push({ offset: start, length: end - start });
  return ranges;
}
