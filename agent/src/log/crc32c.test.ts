// CRC32C: the Castagnoli check value, chaining, and views into larger buffers.
import { crc32c } from './crc32c.js';

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
