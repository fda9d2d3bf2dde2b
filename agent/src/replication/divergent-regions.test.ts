// Method: worked examples of the failback rule: the union of the new primary's change map and
// the regions the returning replica's log touched after the divergence point.
import { epoch, seq } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { divergentRegions, regionRanges } from './divergent-regions.js';

function at(seqNumber: number, offset: number, length: number): Entry {
  return { epoch: epoch(1), seq: seq(seqNumber), offset, length, kind: 'write', payload: new Uint8Array(length) };
}

describe('divergentRegions', () => {
  it('ignores what both histories share, up to the divergence point', () => {
    expect(divergentRegions({ divergenceSeq: seq(10), returningEntries: [at(9, 0, 4096), at(10, 4096, 4096)], changeMapRegions: [], regionBytes: 4096 })).toEqual([]);
  });

  it('copies what the old primary wrote after it, and whatever the new primary changed', () => {
    const regions = divergentRegions({
      divergenceSeq: seq(10),
      returningEntries: [at(11, 8192, 4096), at(12, 4095, 2)],
      changeMapRegions: [7, 2],
      regionBytes: 4096,
    });
    expect(regions).toEqual([0, 1, 2, 7]);
  });

  it('a trim or zero counts by its range; a flush touches nothing', () => {
    const trim: Entry = { ...at(11, 0, 8192), kind: 'trim', payload: new Uint8Array(0) };
    const flush: Entry = { ...at(12, 0, 0), kind: 'flush', payload: new Uint8Array(0) };
    expect(divergentRegions({ divergenceSeq: seq(10), returningEntries: [trim, flush], changeMapRegions: [], regionBytes: 4096 })).toEqual([0, 1]);
  });
});

describe('regionRanges', () => {
  it('merges adjacent regions and clips the last one to the volume', () => {
    expect(regionRanges([3, 0, 1, 5], 4096, 5 * 4096 + 100)).toEqual([
      { offset: 0, length: 8192 },
      { offset: 12288, length: 4096 },
      { offset: 20480, length: 100 },
    ]);
    expect(regionRanges([], 4096, 8192)).toEqual([]);
  });
});
