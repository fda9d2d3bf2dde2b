// Checks that every transmission request is classified as the spec asks: served with exact
// numbers, refused with the right error value (and the right number of payload bytes to
// discard so the stream stays in step), or a protocol error that ends the connection.
// Method: table cases, one per rule of the spec, plus a property test that random header bytes
// never throw and that whatever is served lies inside the export and on its block boundaries.
import fc from 'fast-check';
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_EINVAL,
  NBD_ENOSPC,
  NBD_EPERM,
  NBD_REQUEST_MAGIC,
} from './protocol-constants.js';
import { parseRequest, parseRequestHeader, validateRequest, type ExportLimits, type RequestHeader } from './request-parser.js';

const limits: ExportLimits = { sizeBytes: 1 << 20, minimumBlockBytes: 512, maximumPayloadBytes: 1 << 16, readOnly: false };

function header(fields: Partial<RequestHeader> & { type: number }): RequestHeader {
  return { flags: 0, cookie: 7n, offset: 0n, length: 0, ...fields };
}

function bytes(fields: { magic?: number; flags?: number; type: number; cookie?: bigint; offset?: bigint; length?: number }): Buffer {
  const buffer = Buffer.alloc(28);
  buffer.writeUInt32BE(fields.magic ?? NBD_REQUEST_MAGIC, 0);
  buffer.writeUInt16BE(fields.flags ?? 0, 4);
  buffer.writeUInt16BE(fields.type, 6);
  buffer.writeBigUInt64BE(fields.cookie ?? 7n, 8);
  buffer.writeBigUInt64BE(fields.offset ?? 0n, 16);
  buffer.writeUInt32BE(fields.length ?? 0, 24);
  return buffer;
}

describe('parsing the header', () => {
  it('reads every field big-endian, the cookie and offset as full u64', () => {
    const parsed = parseRequestHeader(bytes({ flags: 1, type: NBD_CMD_WRITE, cookie: 0xfedcba9876543210n, offset: 0xffffffffffffff00n, length: 0xffffffff }));
    expect(parsed).toEqual({
      kind: 'header',
      header: { flags: 1, type: NBD_CMD_WRITE, cookie: 0xfedcba9876543210n, offset: 0xffffffffffffff00n, length: 0xffffffff },
    });
  });

  it('reports a bad magic and short input as values', () => {
    expect(parseRequestHeader(bytes({ magic: 0x12560953, type: 0 }))).toEqual({ kind: 'bad-magic', magic: 0x12560953 });
    expect(parseRequestHeader(Buffer.alloc(27))).toEqual({ kind: 'short-input' });
    expect(parseRequest(bytes({ magic: 1, type: 0 }), limits)).toEqual({ kind: 'protocol-error', reason: 'bad-magic' });
  });
});

describe('serving valid requests', () => {
  it.each([
    ['a read', header({ type: NBD_CMD_READ, offset: 512n, length: 4096 }), { kind: 'read', cookie: 7n, offset: 512, length: 4096 }],
    ['a read with FUA (ignored)', header({ type: NBD_CMD_READ, flags: NBD_CMD_FLAG_FUA, length: 512 }), { kind: 'read', cookie: 7n, offset: 0, length: 512 }],
    ['a FUA write', header({ type: NBD_CMD_WRITE, flags: NBD_CMD_FLAG_FUA, offset: 1024n, length: 512 }), { kind: 'write', cookie: 7n, offset: 1024, length: 512, fua: true }],
    ['a trim of the whole export', header({ type: NBD_CMD_TRIM, offset: 0n, length: 1 << 20 }), { kind: 'trim', cookie: 7n, offset: 0, length: 1 << 20, fua: false }],
    [
      'write-zeroes with NO_HOLE and FUA',
      header({ type: NBD_CMD_WRITE_ZEROES, flags: NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA, offset: 4096n, length: 8192 }),
      { kind: 'write-zeroes', cookie: 7n, offset: 4096, length: 8192, fua: true, noHole: true },
    ],
    ['a flush, ignoring its reserved offset and length', header({ type: NBD_CMD_FLUSH, offset: 99n, length: 3 }), { kind: 'flush', cookie: 7n }],
    ['a disconnect', header({ type: NBD_CMD_DISC, offset: 5n }), { kind: 'disconnect' }],
    ['a zero-length read at the very end', header({ type: NBD_CMD_READ, offset: BigInt(1 << 20), length: 0 }), { kind: 'read', cookie: 7n, offset: 1 << 20, length: 0 }],
  ])('serves %s', (_case, request, expected) => {
    expect(validateRequest(request, limits)).toEqual({ kind: 'serve', request: expected });
  });

  it('lets trim and write-zeroes exceed the maximum payload (they carry no payload)', () => {
    const big = { ...limits, sizeBytes: 1 << 28 };
    expect(validateRequest(header({ type: NBD_CMD_WRITE_ZEROES, length: 1 << 27 }), big).kind).toBe('serve');
  });
});

describe('refusing requests', () => {
  it.each([
    ['unknown command 99', header({ type: 99, length: 512 }), NBD_EINVAL, 'unknown-command', 0],
    ['NBD_CMD_CACHE, not advertised', header({ type: NBD_CMD_CACHE, length: 512 }), NBD_EINVAL, 'unknown-command', 0],
    ['NBD_CMD_BLOCK_STATUS without metadata contexts', header({ type: NBD_CMD_BLOCK_STATUS, length: 512 }), NBD_EINVAL, 'unknown-command', 0],
    ['DF on a read (structured replies not negotiated)', header({ type: NBD_CMD_READ, flags: NBD_CMD_FLAG_DF, length: 512 }), NBD_EINVAL, 'bad-flags', 0],
    ['NO_HOLE on a write', header({ type: NBD_CMD_WRITE, flags: NBD_CMD_FLAG_NO_HOLE, length: 512 }), NBD_EINVAL, 'bad-flags', 512],
    ['FAST_ZERO (not advertised)', header({ type: NBD_CMD_WRITE_ZEROES, flags: NBD_CMD_FLAG_FAST_ZERO, length: 512 }), NBD_EINVAL, 'bad-flags', 0],
    ['a read past the end', header({ type: NBD_CMD_READ, offset: BigInt((1 << 20) - 512), length: 1024 }), NBD_EINVAL, 'past-end', 0],
    ['a trim past the end', header({ type: NBD_CMD_TRIM, offset: BigInt(1 << 20), length: 512 }), NBD_EINVAL, 'past-end', 0],
    ['a write past the end', header({ type: NBD_CMD_WRITE, offset: BigInt(1 << 20), length: 512 }), NBD_ENOSPC, 'past-end', 512],
    ['write-zeroes past the end', header({ type: NBD_CMD_WRITE_ZEROES, offset: 0n, length: (1 << 20) + 512 }), NBD_ENOSPC, 'past-end', 0],
    ['an offset that would wrap a u64', header({ type: NBD_CMD_READ, offset: 0xffffffffffffff00n, length: 512 }), NBD_EINVAL, 'past-end', 0],
    ['a read over the maximum payload', header({ type: NBD_CMD_READ, length: (1 << 16) + 512 }), NBD_EINVAL, 'over-maximum-payload', 0],
    ['a write over the maximum payload', header({ type: NBD_CMD_WRITE, length: (1 << 16) + 512 }), NBD_EINVAL, 'over-maximum-payload', (1 << 16) + 512],
    ['a misaligned offset', header({ type: NBD_CMD_READ, offset: 100n, length: 512 }), NBD_EINVAL, 'misaligned', 0],
    ['a misaligned length', header({ type: NBD_CMD_WRITE, length: 100 }), NBD_EINVAL, 'misaligned', 100],
  ])('refuses %s', (_case, request, errno, reason, discardBytes) => {
    expect(validateRequest(request, limits)).toEqual({ kind: 'reject', cookie: 7n, command: expect.any(String), errno, reason, discardBytes });
  });

  it('refuses writes, trims and write-zeroes on a read-only export with EPERM, but serves reads and flushes', () => {
    const readOnly = { ...limits, readOnly: true };
    for (const type of [NBD_CMD_WRITE, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES]) {
      expect(validateRequest(header({ type, length: 512 }), readOnly)).toMatchObject({ kind: 'reject', errno: NBD_EPERM, reason: 'read-only' });
    }
    expect(validateRequest(header({ type: NBD_CMD_READ, length: 512 }), readOnly).kind).toBe('serve');
    expect(validateRequest(header({ type: NBD_CMD_FLUSH }), readOnly).kind).toBe('serve');
  });

  it('disconnects for a write payload above 2^25 bytes: reading it would be a denial of service', () => {
    expect(validateRequest(header({ type: NBD_CMD_WRITE, length: (1 << 25) + 1 }), limits)).toEqual({ kind: 'protocol-error', reason: 'payload-too-large' });
    // A read of that size carries no payload from the client: refused, not disconnected.
    expect(validateRequest(header({ type: NBD_CMD_READ, length: (1 << 25) + 512 }), limits).kind).toBe('reject');
  });
});

describe('properties over random input', () => {
  it('never throws, and anything served lies inside the export on block boundaries', () => {
    const type = fc.oneof(fc.constantFrom(NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_DISC, NBD_CMD_FLUSH, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES), fc.integer({ min: 0, max: 0xffff }));
    const offset = fc.oneof(fc.bigInt({ min: 0n, max: BigInt(limits.sizeBytes) + 4096n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), type, offset, fc.integer({ min: 0, max: 0xffffffff }), (flags, command, start, length) => {
        const verdict = parseRequest(bytes({ flags, type: command, offset: start, length }), limits);
        if (verdict.kind !== 'serve' || verdict.request.kind === 'disconnect' || verdict.request.kind === 'flush') return;
        const { offset: at, length: bytesLong } = verdict.request;
        expect(Number.isSafeInteger(at)).toBe(true);
        expect(at + bytesLong).toBeLessThanOrEqual(limits.sizeBytes);
        expect(at % limits.minimumBlockBytes).toBe(0);
        expect(bytesLong % limits.minimumBlockBytes).toBe(0);
      }),
      { numRuns: 5_000 },
    );
  });

  it('never throws on arbitrary 28-byte headers', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), (input) => {
      expect(['serve', 'reject', 'protocol-error', 'short-input']).toContain(parseRequest(input, limits).kind);
    }));
  });
});
