// Checks what an export advertises (transmission flags, with the reason each is or is not set)
// and that device constraints breaking the spec's "Size constraints" rules are refused when the
// export is added, not discovered by a client. Method: a constant fake device varied per case.
import { BunkerError } from '@bunker/proto/bunker-error';
import type { BlockDevice } from './block-device.js';
import { createExport } from './nbd-export.js';
import {
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
} from './protocol-constants.js';

function device(overrides: Partial<BlockDevice> = {}): BlockDevice {
  const unused = (): Promise<never> => Promise.reject(new Error('not called'));
  return {
    sizeBytes: 1 << 20,
    minimumBlockBytes: 512,
    preferredBlockBytes: 4096,
    maximumPayloadBytes: 1 << 25,
    flushCoversAllWrites: true,
    read: unused,
    write: unused,
    trim: unused,
    writeZeroes: unused,
    flush: unused,
    ...overrides,
  };
}

describe('transmission flags', () => {
  it('offers flush, FUA, trim, write-zeroes and multi-conn on a writable device whose flush covers all writes', () => {
    expect(createExport('vol', device()).transmissionFlags).toBe(
      NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN,
    );
  });

  it('withholds CAN_MULTI_CONN when a flush does not cover other connections', () => {
    expect(createExport('vol', device({ flushCoversAllWrites: false })).transmissionFlags & NBD_FLAG_CAN_MULTI_CONN).toBe(0);
  });

  it('marks a read-only export and does not offer trim or write-zeroes on it', () => {
    const flags = createExport('vol', device(), { readOnly: true }).transmissionFlags;
    expect(flags & NBD_FLAG_READ_ONLY).not.toBe(0);
    expect(flags & (NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES)).toBe(0);
  });
});

describe('constraint checks', () => {
  it.each([
    ['a minimum block that is not a power of two', { minimumBlockBytes: 768 }],
    ['a minimum block over 64 KiB', { minimumBlockBytes: 1 << 17, preferredBlockBytes: 1 << 17 }],
    ['a preferred block under 512', { minimumBlockBytes: 1, preferredBlockBytes: 256 }],
    ['a preferred block under the minimum', { minimumBlockBytes: 8192, preferredBlockBytes: 4096 }],
    ['a maximum payload under the preferred block', { maximumPayloadBytes: 2048 }],
    ['a maximum payload over 2^32 - 1', { maximumPayloadBytes: 2 ** 32 }],
    ['a size that is not a multiple of the minimum block', { sizeBytes: (1 << 20) + 100 }],
    ['a negative size', { sizeBytes: -512 }],
  ])('refuses %s', (_case, overrides) => {
    expect(() => createExport('vol', device(overrides))).toThrow(expect.objectContaining({ code: 'nbd-export-invalid' }));
  });

  it.each([['a NUL', 'a\0b'], ['more than 4096 bytes', 'x'.repeat(4097)]])('refuses an export name with %s', (_case, name) => {
    let thrown: unknown;
    try {
      createExport(name, device());
    } catch (error) {
      thrown = error;
    }
    expect(BunkerError.is(thrown) && thrown.code).toBe('nbd-export-invalid');
  });

  it('accepts the empty name (the protocol\'s default export) and a minimum block of 1', () => {
    expect(createExport('', device({ minimumBlockBytes: 1, sizeBytes: 1000 })).name).toBe('');
  });
});
