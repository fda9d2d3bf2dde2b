// The true difference between two replicas' data files: how many bytes lie in blocks whose
// contents differ. A resync must copy about this much (tests and benchmarks compare its bytes
// copied against it), and 0 means the replicas hold the same data.
import { open } from 'node:fs/promises';

const CHUNK_BYTES = 4 * 1024 * 1024;

/** Bytes in `blockBytes` blocks whose contents differ between two files of `size` bytes (a short file reads as zeroes). */
export async function differingBytes(a: string, b: string, size: number, blockBytes = 4096): Promise<number> {
  const [fa, fb] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  try {
    let differing = 0;
    const [ba, bb] = [Buffer.alloc(CHUNK_BYTES), Buffer.alloc(CHUNK_BYTES)];
    for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
      ba.fill(0);
      bb.fill(0);
      await Promise.all([fa.read(ba, 0, CHUNK_BYTES, offset), fb.read(bb, 0, CHUNK_BYTES, offset)]);
      const end = Math.min(CHUNK_BYTES, size - offset);
      for (let at = 0; at < end; at += blockBytes) {
        const to = Math.min(at + blockBytes, end);
        if (ba.compare(bb, at, to, at, to) !== 0) differing += to - at;
      }
    }
    return differing;
  } finally {
    await fa.close();
    await fb.close();
  }
}
