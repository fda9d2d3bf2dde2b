// Fuzzes the real NbdServer over loopback sockets with byte streams built from protocol frames
// and then damaged: client flags, options (GO/INFO/LIST/EXPORT_NAME/ABORT/unknown, lying data
// lengths up to 2^32, garbage data), then transmission requests with hostile values (unknown
// commands and flags, offsets past the end up to 2^64 - 1, lengths up to 2^32 - 1, payloads
// shorter than declared), cut at a random byte and with random bytes flipped.
// Properties, per stream: the server greets, then answers or closes, and once the client has
// half-closed it closes the connection in bounded time (no hang); no call reaches the device
// outside the export; no session throws (every protocol error is one of the typed reasons);
// the largest single read the server asks of a socket is bounded by the export's payload
// limit and the option limit, never by a length field (no allocation proportional to hostile
// input); and afterwards a fresh client is still served.
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import fc from 'fast-check';
import { RawNbdClient, encodeRequest, goData, u32 } from '../support/nbd-clients.js';
import { assertInDevice, type BlockDevice } from '../../agent/src/nbd/block-device.js';
import { OPTION_DATA_BYTES_MAX } from '../../agent/src/nbd/handshake.js';
import type { NbdObserver, ProtocolErrorReason } from '../../agent/src/nbd/nbd-observer.js';
import { NbdServer } from '../../agent/src/nbd/nbd-server.js';
import {
  GREETING_BYTES, NBD_CMD_READ, NBD_CMD_WRITE, NBD_INFO_BLOCK_SIZE, NBD_MAGIC, NBD_OPTION_MAGIC, NBD_OPT_ABORT, NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_LIST, NBD_REQUEST_MAGIC,
} from '../../agent/src/nbd/protocol-constants.js';
import { fuzzBudget } from './fuzz-budget.js';

const SIZE_BYTES = 256 * 1024;
const BLOCK_BYTES = 512;
const MAXIMUM_PAYLOAD_BYTES = 16 * 1024;
/** SocketReader.skip's piece size: the most a discard reads at once. */
const SKIP_CHUNK_BYTES = 64 * 1024;
const CLOSE_WITHIN_MS = 5_000;

const PROTOCOL_ERRORS: readonly ProtocolErrorReason[] = [
  'unknown-client-flags', 'bad-option-magic', 'handshake-timeout', 'unknown-export', 'invalid-export-name', 'bad-request-magic',
  'payload-too-large', 'truncated-message',
];

/** A memory device that records any call outside the export instead of trusting the server. */
class MemoryDevice implements BlockDevice {
  readonly sizeBytes = SIZE_BYTES;
  readonly minimumBlockBytes = BLOCK_BYTES;
  readonly preferredBlockBytes = 4096;
  readonly maximumPayloadBytes = MAXIMUM_PAYLOAD_BYTES;
  readonly flushCoversAllWrites = true;
  readonly memory = new Uint8Array(SIZE_BYTES);
  readonly violations: string[] = [];

  private check(what: string, offset: number, length: number): void {
    try {
      assertInDevice(this.sizeBytes, offset, length);
      if (offset % BLOCK_BYTES !== 0 || length % BLOCK_BYTES !== 0) throw new Error('misaligned');
      if ((what === 'read' || what === 'write') && length > MAXIMUM_PAYLOAD_BYTES) throw new Error('over the maximum payload');
    } catch {
      this.violations.push(`${what} ${offset}+${length}`);
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check('read', offset, length);
    return this.memory.slice(offset, offset + length);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check('write', offset, data.length);
    this.memory.set(data.subarray(0, Math.max(0, SIZE_BYTES - offset)), offset);
  }

  async trim(offset: number, length: number): Promise<void> {
    this.check('trim', offset, length);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.check('write-zeroes', offset, length);
    this.memory.fill(0, offset, offset + length);
  }

  async flush(): Promise<void> {}
}

// ---- Frames of a client stream ----

function optionFrame(option: number, data: Uint8Array, declaredBytes: number, magic: bigint): Uint8Array {
  const header = Buffer.alloc(16);
  header.writeBigUInt64BE(magic, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(declaredBytes >>> 0, 12);
  return Buffer.concat([header, data]);
}

const u32Any = fc.nat(0xffff_ffff);
const exportName = fc.oneof(fc.constant('vol'), fc.constant('missing'), fc.string({ maxLength: 12 }));

const option: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(exportName, fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }), fc.constantFrom(NBD_OPT_GO, NBD_OPT_INFO))
    .map(([name, infoTypes, type]) => { const data = goData(name, infoTypes); return optionFrame(type, data, data.length, NBD_OPTION_MAGIC); }) },
  { weight: 1, arbitrary: exportName.map((name) => { const data = Buffer.from(name); return optionFrame(NBD_OPT_EXPORT_NAME, data, data.length, NBD_OPTION_MAGIC); }) },
  { weight: 1, arbitrary: fc.constantFrom(NBD_OPT_LIST, NBD_OPT_ABORT).map((type) => optionFrame(type, new Uint8Array(0), 0, NBD_OPTION_MAGIC)) },
  // Unknown options, garbage data, a declared length that lies (shorter, longer, up to 2^32 - 1).
  { weight: 2, arbitrary: fc.tuple(u32Any, fc.uint8Array({ maxLength: 48 }), fc.oneof(fc.constant(-1), fc.nat(64), fc.constant(OPTION_DATA_BYTES_MAX + 1), u32Any))
    .map(([type, data, declared]) => optionFrame(type, data, declared === -1 ? data.length : declared, NBD_OPTION_MAGIC)) },
  { weight: 1, arbitrary: fc.tuple(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.uint8Array({ maxLength: 16 }))
    .map(([magic, data]) => optionFrame(NBD_OPT_LIST, data, data.length, magic)) },
);

const hostileOffset = fc.oneof(
  fc.integer({ min: 0, max: SIZE_BYTES / BLOCK_BYTES }).map((block) => BigInt(block * BLOCK_BYTES)),
  fc.constantFrom(BigInt(SIZE_BYTES), BigInt(SIZE_BYTES - BLOCK_BYTES), 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 512n),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);
const hostileLength = fc.oneof(
  fc.integer({ min: 0, max: MAXIMUM_PAYLOAD_BYTES / BLOCK_BYTES }).map((blocks) => blocks * BLOCK_BYTES),
  fc.constantFrom(MAXIMUM_PAYLOAD_BYTES + BLOCK_BYTES, 1 << 25, (1 << 25) + 1, 0xffff_ffff, 1),
  u32Any,
);

const request: fc.Arbitrary<Uint8Array> = fc
  .record({
    type: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 8 }) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
    flags: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
    cookie: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    offset: hostileOffset,
    length: hostileLength,
    badMagic: fc.option(u32Any, { freq: 10 }),
    // Payload actually sent for a write: all of it (when small) or a part.
    payloadShare: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ type, flags, cookie, offset, length, badMagic, payloadShare }) => {
    const head = encodeRequest({ type, flags, cookie, offset, length, magic: badMagic ?? NBD_REQUEST_MAGIC });
    if (type !== NBD_CMD_WRITE) return head;
    const sent = length <= MAXIMUM_PAYLOAD_BYTES && payloadShare > 0.2 ? length : Math.floor(Math.min(length, 4096) * payloadShare);
    return Buffer.concat([head, Buffer.alloc(sent, 0x5a)]);
  });

interface Stream {
  readonly bytes: Uint8Array;
}

const clientStream: fc.Arbitrary<Stream> = fc
  .record({
    flags: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: u32Any }),
    options: fc.array(option, { maxLength: 4 }),
    go: fc.boolean(),
    requests: fc.array(request, { maxLength: 8 }),
    cutAt: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { freq: 4 }),
    flips: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }),
  })
  .map(({ flags, options, go, requests, cutAt, flips }) => {
    const goVol = goData('vol', [NBD_INFO_BLOCK_SIZE]);
    const frames = [u32(flags), ...options, ...(go ? [optionFrame(NBD_OPT_GO, goVol, goVol.length, NBD_OPTION_MAGIC)] : []), ...requests];
    const whole = Buffer.concat(frames);
    const bytes = cutAt === null ? whole : whole.subarray(0, Math.floor(whole.length * cutAt));
    const damaged = Buffer.from(bytes);
    for (const [at, mask] of flips) {
      const index = Math.floor(at * damaged.length);
      if (index < damaged.length) damaged[index] = (damaged[index] ?? 0) ^ mask;
    }
    return { bytes: damaged };
  });

// ---- The server under test ----

let server: NbdServer;
let device: MemoryDevice;
let port = 0;
const protocolErrors: string[] = [];
let openConnections = 0;
/** Across the whole run, so a generator that never reached the transmission phase fails. */
let requestsAnswered = 0;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
/** Largest `read(n)` a server-side socket was asked for, in this case and in the whole run. */
let largestServerRead = 0;
let largestServerReadEver = 0;
const originalRead = Readable.prototype.read;

beforeAll(async () => {
  const observer: NbdObserver = {
    onRequest: () => { requestsAnswered += 1; },
    onConnection: (event) => { openConnections += event === 'open' ? 1 : -1; },
    onProtocolError: (reason) => protocolErrors.push(reason),
    onUnexpectedDeviceError: (error) => unhandled.push(error),
  };
  device = new MemoryDevice();
  server = new NbdServer({ observer, handshakeTimeoutMs: 3_000 });
  server.addExport('vol', device);
  port = (await server.listen(0)).port;
  process.on('unhandledRejection', onUnhandled);
  // Accepted sockets carry their net.Server in `server`: only the NBD server's reads count.
  Readable.prototype.read = function read(this: Readable, size?: number) {
    if (typeof size === 'number' && 'server' in this && this.server !== null && this.server !== undefined) {
      largestServerRead = Math.max(largestServerRead, size);
      largestServerReadEver = Math.max(largestServerReadEver, size);
    }
    return originalRead.call(this, size);
  };
});

afterAll(async () => {
  Readable.prototype.read = originalRead;
  process.off('unhandledRejection', onUnhandled);
  await server.close({ signal: AbortSignal.timeout(2_000) });
});

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return true;
}

/** A well-behaved client still gets a block written and read back. */
async function stillServes(): Promise<void> {
  const { client } = await RawNbdClient.transmission(port, 'vol');
  try {
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 7n, offset: 0n, length: BLOCK_BYTES }, Buffer.alloc(BLOCK_BYTES, 0x33));
    expect(await client.readSimpleReply()).toMatchObject({ errno: 0, cookie: 7n });
    client.sendRequest({ type: NBD_CMD_READ, cookie: 8n, offset: 0n, length: BLOCK_BYTES });
    const reply = await client.readSimpleReply(BLOCK_BYTES);
    expect(reply.data.every((byte) => byte === 0x33)).toBe(true);
  } finally {
    client.destroy();
  }
}

async function playStream(stream: Stream): Promise<void> {
  const client = await RawNbdClient.connect(port);
  try {
    const greeting = await client.read(GREETING_BYTES);
    expect(greeting.readBigUInt64BE(0)).toBe(NBD_MAGIC);
    client.write(stream.bytes);
    client.socket.end();
    // Answered or not, the server must close once the client has nothing more to say.
    const deadline = new AbortController();
    const closed = await Promise.race([
      client.closed.then(() => true),
      delay(CLOSE_WITHIN_MS, false, { signal: deadline.signal }).catch(() => false),
    ]);
    deadline.abort();
    expect(closed).toBe(true);
  } finally {
    client.destroy();
  }
  // The session ended on the server too: no connection is left behind.
  expect(await until(() => openConnections === 0, CLOSE_WITHIN_MS)).toBe(true);
}

describe('NbdServer under hostile byte streams', () => {
  const budget = fuzzBudget(400);
  it('answers or closes, stays inside the export, buffers no hostile length, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(clientStream, async (stream) => {
        protocolErrors.length = 0;
        largestServerRead = 0;
        await playStream(stream);
        for (const reason of protocolErrors) expect(PROTOCOL_ERRORS).toContain(reason);
        expect(device.violations).toEqual([]);
        expect(unhandled).toEqual([]);
        expect(largestServerRead).toBeLessThanOrEqual(Math.max(MAXIMUM_PAYLOAD_BYTES, OPTION_DATA_BYTES_MAX, SKIP_CHUNK_BYTES));
        await stillServes();
      }),
      budget.parameters,
    );
    expect(requestsAnswered).toBeGreaterThan(0);
    expect(largestServerReadEver).toBeGreaterThan(0);
  }, budget.timeoutMs);
});
