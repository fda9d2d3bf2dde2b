// The record codec: exact round trips (u64 up to 2^53 - 1), refusal of anything a
// JavaScript number cannot hold, and no exception on any input.
import fc from 'fast-check';
import { epoch, seq } from '@bunker/proto/ids';
import { crc32c } from './crc32c.js';
import {
  decodeHeader, encodeHeader, ENTRY_HEADER_BYTES, entryOf, headerOf, readU64, recordBytes, recordCrcMatches, writeU64,
  type RecordHeader,
} from './format.js';
import { makeEntry } from './testing/log-fixtures.js';

const header = (overrides: Partial<RecordHeader> = {}): RecordHeader => ({
  kind: 'write', logId: 7, session: 3, payloadLength: 4, epoch: epoch(2), seq: seq(9), offset: 8192, length: 4, ...overrides,
});

describe('record format', () => {
  it('round-trips a header and checks the payload CRC', () => {
    const payload = Uint8Array.from([1, 2, 3, 4]);
    const bytes = encodeHeader(header(), payload);
    expect(bytes.length).toBe(ENTRY_HEADER_BYTES);
    expect(decodeHeader(bytes, 1 << 20)).toEqual({ header: header() });
    expect(recordCrcMatches(bytes, payload)).toBe(true);
    expect(recordCrcMatches(bytes, Uint8Array.from([1, 2, 3, 5]))).toBe(false);
  });

  it('keeps u64 values exact up to 2^53 - 1 and refuses larger ones', () => {
    const view = new DataView(new ArrayBuffer(8));
    for (const value of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
      writeU64(view, 0, value);
      expect(readU64(view, 0)).toBe(value);
    }
    view.setUint32(0, 0, true);
    view.setUint32(4, 0x20_0000, true); // 2^53
    expect(readU64(view, 0)).toBeUndefined();
    view.setUint32(4, 0xffff_ffff, true);
    expect(readU64(view, 0)).toBeUndefined();
  });

  it('round-trips the largest safe sequence and epoch', () => {
    const big = header({ seq: seq(Number.MAX_SAFE_INTEGER), epoch: epoch(Number.MAX_SAFE_INTEGER - 1) });
    expect(decodeHeader(encodeHeader(big, Uint8Array.from([1, 2, 3, 4])), 64)).toEqual({ header: big });
  });

  it('refuses a sequence above 2^53 even with valid checksums', () => {
    const bytes = encodeHeader(header(), new Uint8Array(4));
    const view = new DataView(bytes.buffer);
    view.setUint32(36, 0x20_0000, true); // seq high word: 2^53
    view.setUint32(56, crc32c(bytes.subarray(0, 56)), true);
    expect(decodeHeader(bytes, 1 << 20)).toEqual({ problem: 'field' });
  });

  it.each([
    ['magic', 0, 'magic'],
    ['kind', 4, 'headerCrc'],
    ['epoch', 24, 'headerCrc'],
    ['seq', 32, 'headerCrc'],
    ['header CRC', 56, 'headerCrc'],
  ])('reports a damaged %s', (_, at, problem) => {
    const bytes = encodeHeader(header(), new Uint8Array(4));
    bytes[at] = (bytes[at] ?? 0) ^ 0x10;
    expect(decodeHeader(bytes, 1 << 20)).toEqual({ problem });
  });

  it('refuses payloads that do not match the kind or exceed the limit', () => {
    expect(decodeHeader(encodeHeader(header({ kind: 'trim', payloadLength: 4 }), new Uint8Array(4)), 64)).toEqual({ problem: 'field' });
    expect(decodeHeader(encodeHeader(header({ length: 5 }), new Uint8Array(4)), 64)).toEqual({ problem: 'field' });
    expect(decodeHeader(encodeHeader(header(), new Uint8Array(4)), 3)).toEqual({ problem: 'field' });
  });

  it('pads records to 8 bytes and maps entries both ways', () => {
    expect([recordBytes(0), recordBytes(1), recordBytes(4096), recordBytes(4097)]).toEqual([64, 72, 4160, 4168]);
    const entry = makeEntry(5, 2, 100);
    const decoded = decodeHeader(encodeHeader(headerOf(entry, 1, 1), entry.payload), 4096);
    if (!('header' in decoded)) throw new Error(decoded.problem);
    expect(entryOf(decoded.header, entry.payload)).toEqual(entry);
    expect(entryOf({ ...decoded.header, kind: 'wrap' }, entry.payload)).toBeUndefined();
  });

  it('decodes any 64 bytes without throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (bytes) => {
        const result = decodeHeader(bytes, 1 << 20);
        expect('header' in result || 'problem' in result).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
