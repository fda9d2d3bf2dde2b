// Resynchronization compares data by a strong checksum before it copies anything: SHA-256
// per fixed-size block, so two replicas agree on a block only if its bytes are identical
// (barring a SHA-256 collision), and a differing block costs its own size, not its region's.
import { createHash } from 'node:crypto';

export const CHECKSUM_BYTES = 32;

/** SHA-256 of each `blockBytes` slice of `data` (the last may be shorter), in order. */
export function blockChecksums(data: Uint8Array, blockBytes: number): Buffer[] {
  const sums: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += blockBytes) {
    sums.push(createHash('sha256').update(data.subarray(offset, Math.min(offset + blockBytes, data.length))).digest());
  }
  return sums;
}

/** Indexes of the blocks whose checksums differ (or that one side lacks). */
export function differingBlocks(local: readonly Uint8Array[], remote: readonly Uint8Array[]): number[] {
  const differing: number[] = [];
  const count = Math.max(local.length, remote.length);
  for (let i = 0; i < count; i += 1) {
    const a = local[i];
    const b = remote[i];
    if (a === undefined || b === undefined || Buffer.compare(a, b) !== 0) differing.push(i);
  }
  return differing;
}

/** Runs of consecutive block indexes, as [first, count] pairs, each at most maxBlocks long. */
export function blockRuns(blocks: readonly number[], maxBlocks: number): Array<{ readonly first: number; readonly count: number }> {
  const runs: Array<{ first: number; count: number }> = [];
  for (const block of blocks) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.first + last.count === block && last.count < maxBlocks) last.count += 1;
    else runs.push({ first: block, count: 1 });
  }
  return runs;
}
