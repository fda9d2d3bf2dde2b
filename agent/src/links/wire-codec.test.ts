// Method: the wire CRC is part of the protocol between agents (a rolling upgrade mixes
// versions), so it is pinned against its definition, written out independently here with
// BigInt fields: CRC32C over epoch, seq, offset (u64 little-endian), length and kind (u32), then
// the payload. Seeded random entries cover u64 values above 2^32 and the usual payload sizes.
import { crc32c } from '../log/crc32c.js';
import type { EntryKind } from '../log/entry.js';
import { seededRandom } from '../log/seeded-random.js';
import { wireEntryCrc } from './wire-codec.js';

const KIND_CODES: Readonly<Record<EntryKind, number>> = { write: 1, trim: 2, zero: 3, flush: 4 };

function definitionCrc(entry: { epoch: number; seq: number; offset: number; length: number; kind: EntryKind; payload: Uint8Array }): number {
  const header = new DataView(new ArrayBuffer(32));
  header.setBigUint64(0, BigInt(entry.epoch), true);
  header.setBigUint64(8, BigInt(entry.seq), true);
  header.setBigUint64(16, BigInt(entry.offset), true);
  header.setUint32(24, entry.length, true);
  header.setUint32(28, KIND_CODES[entry.kind], true);
  return crc32c(entry.payload, crc32c(new Uint8Array(header.buffer)));
}

describe('wireEntryCrc', () => {
  it('is CRC32C of the header fields and the payload, for values past 2^32 too', () => {
    const random = seededRandom(11);
    const numbers = [0, 1, 4096, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12_345, 2 ** 53 - 1];
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
    for (let round = 0; round < 500; round += 1) {
      const kind = pick<EntryKind>(['write', 'trim', 'zero', 'flush']);
      const size = kind === 'write' ? pick([0, 512, 4096, 65_536, 1_048_576]) : 0;
      const payload = new Uint8Array(size);
      for (let index = 0; index < size; index += 61) payload[index] = Math.floor(random() * 256);
      const entry = { epoch: pick(numbers), seq: pick(numbers), offset: pick(numbers), length: kind === 'write' ? size : pick([0, 4096, 2 ** 31]), kind, payload };
      expect(wireEntryCrc(entry)).toBe(definitionCrc(entry));
    }
  });
});
