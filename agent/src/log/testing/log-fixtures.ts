// Entries and options for the change log's tests, the crash child and the benchmark. A
// payload is derived from its sequence, epoch and size, so a checker can tell whether the
// entry it reads back is intact without keeping a copy.
import { epoch as toEpoch, seq as toSeq, type Epoch, type Seq } from '@bunker/proto/ids';
import type { Entry, EntryKind } from '../entry.js';
import { seededRandom } from '../seeded-random.js';

export const TEST_VOLUME_UID = '5f0c2a1e-9b7d-4c3a-8e21-0d4b6f7a9c10';
export const OTHER_VOLUME_UID = 'a1b2c3d4-e5f6-4a5b-9c8d-7e6f5a4b3c2d';

const PATTERN_BYTES = 16 * 1024;
/** Fixed pseudo-random bytes (seeded): payloads are slices of it, cheap to build and compare. */
const PATTERN = (() => {
  const random = seededRandom(0x5eed);
  return Uint8Array.from({ length: PATTERN_BYTES }, () => Math.floor(random() * 256));
})();

/**
 * Bytes that depend on every argument: a 16-byte stamp (seq, epoch, size), then a slice of
 * a fixed pattern starting at an offset derived from them. A mix-up of entries, a torn
 * write or a shifted read all show as a mismatch.
 */
export function payloadFor(seqValue: number, epochValue: number, bytes: number): Uint8Array {
  const payload = new Uint8Array(bytes);
  const stamp = new DataView(new ArrayBuffer(16));
  stamp.setUint32(0, seqValue % 0x1_0000_0000, true);
  stamp.setUint32(4, Math.floor(seqValue / 0x1_0000_0000), true);
  stamp.setUint32(8, epochValue, true);
  stamp.setUint32(12, bytes, true);
  payload.set(new Uint8Array(stamp.buffer).subarray(0, Math.min(16, bytes)));
  let at = Math.min(16, bytes);
  let from = (seqValue * 131 + epochValue * 17 + bytes) % PATTERN_BYTES;
  while (at < bytes) {
    const chunk = PATTERN.subarray(from, Math.min(PATTERN_BYTES, from + bytes - at));
    payload.set(chunk, at);
    at += chunk.length;
    from = 0;
  }
  return payload;
}

/** A write of `bytes` (or a trim, zero or flush without payload) with a derived payload. */
export function makeEntry(seqValue: number, epochValue = 1, bytes = 4096, kind: EntryKind = 'write'): Entry {
  const epoch: Epoch = toEpoch(epochValue);
  const seq: Seq = toSeq(seqValue);
  if (kind !== 'write') return { epoch, seq, offset: seqValue * 4096, length: kind === 'flush' ? 0 : bytes, kind, payload: new Uint8Array(0) };
  return { epoch, seq, offset: seqValue * 4096, length: bytes, kind, payload: payloadFor(seqValue, epochValue, bytes) };
}

/** Whether an entry read back is exactly the one `makeEntry` built. */
export function isIntact(entry: Entry): boolean {
  const expected = makeEntry(entry.seq, entry.epoch, entry.length, entry.kind);
  return (
    entry.offset === expected.offset && entry.length === expected.length &&
    Buffer.from(entry.payload).equals(Buffer.from(expected.payload))
  );
}
