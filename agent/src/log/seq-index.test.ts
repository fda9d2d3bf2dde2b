// The sparse index: one checkpoint per interval, floor lookups, trimming, bounded memory.
import { epoch, seq } from '@bunker/proto/ids';
import type { ScanPoint } from './scan.js';
import { SeqIndex } from './seq-index.js';

const point = (position: number, prevSeq: number): ScanPoint => ({ position, prev: { epoch: epoch(1), seq: seq(prevSeq), session: 1 } });

describe('SeqIndex', () => {
  it('keeps one checkpoint per interval and finds the last one at or before a seq', () => {
    const index = new SeqIndex(100_000, 1000);
    for (let n = 1; n <= 50; n += 1) index.note(point(n * 300, n - 1), seq(n), 300);
    // Records of 300 bytes, a checkpoint every 1000 bytes: at seqs 1, 5, 9, ...
    expect(index.size).toBe(13);
    expect(index.floor(seq(1))?.seq).toBe(1);
    expect(index.floor(seq(8))?.seq).toBe(5);
    expect(index.floor(seq(9))?.seq).toBe(9);
    expect(index.floor(seq(0))).toBeUndefined();
    expect(index.floor(seq(1000))?.seq).toBe(49);
  });

  it('drops checkpoints below a trim', () => {
    const index = new SeqIndex(100_000, 1000);
    for (let n = 1; n <= 50; n += 1) index.note(point(n * 300, n - 1), seq(n), 300);
    index.dropBelow(seq(10));
    // Below the first checkpoint left, a walk starts at the tail.
    expect(index.floor(seq(12))).toBeUndefined();
    expect(index.floor(seq(14))?.seq).toBe(13);
  });

  it('never holds more than the region divided by the interval, plus two', () => {
    const index = new SeqIndex(10_000, 1000);
    for (let n = 1; n <= 10_000; n += 1) index.note(point(n, n - 1), seq(n), 1000);
    expect(index.size).toBe(12);
    expect(index.floor(seq(10_000))?.seq).toBe(10_000);
  });
});
