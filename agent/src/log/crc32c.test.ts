// CRC32C: the Castagnoli check value, chaining, and views into larger buffers.
import fc from 'fast-check';
import { crc32c, crc32cAfter, crc32cCombine } from './crc32c.js';

describe('crc32c', () => {
  it('gives the standard check value for "123456789"', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('continues from a previous CRC, and reads only a view\'s bytes', () => {
    const bytes = new TextEncoder().encode('xx123456789yy');
    const view = bytes.subarray(2, 11);
    expect(crc32c(view)).toBe(0xe3069283);
    expect(crc32c(view.subarray(4), crc32c(view.subarray(0, 4)))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });
});

describe('crc32cCombine', () => {
  const bytes = fc.uint8Array({ minLength: 0, maxLength: 5000 });

  it('gives crc32c(A followed by B) from the CRCs of A and B and the length of B', () => {
    fc.assert(fc.property(bytes, bytes, (a, b) => {
      const whole = new Uint8Array(a.length + b.length);
      whole.set(a, 0);
      whole.set(b, a.length);
      expect(crc32cCombine(crc32c(a), crc32c(b), b.length)).toBe(crc32c(whole));
      expect(crc32cCombine(crc32c(a), crc32c(b), b.length)).toBe(crc32c(b, crc32c(a)));
    }), { numRuns: 300 });
  });

  it('holds for lengths past 2^28 bytes (the length doubling table wraps there)', () => {
    // crc32c of 2^29 zero bytes continued from a seed, checked against a direct computation
    // in 1 MiB steps (zeros: the CRC of a run of zeros still depends on its length).
    const zeros = new Uint8Array(1 << 20);
    let direct = crc32c(new TextEncoder().encode('seed'));
    const seed = direct;
    for (let i = 0; i < 512; i += 1) direct = crc32c(zeros, direct);
    let zerosCrc = 0;
    for (let i = 0; i < 512; i += 1) zerosCrc = crc32c(zeros, zerosCrc);
    expect(crc32cCombine(seed, zerosCrc, 512 * (1 << 20))).toBe(direct);
  });
});

describe('crc32cAfter', () => {
  it('equals crc32c(payload, headerCrc), and reads a payload once however often it is asked', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 0, max: 0xffffffff }), (payload, headerCrc) => {
      expect(crc32cAfter(headerCrc, payload)).toBe(crc32c(payload, headerCrc));
      expect(crc32cAfter(headerCrc, payload)).toBe(crc32c(payload, headerCrc));
    }), { numRuns: 300 });
  });
});
