// Checks the server end to end over real loopback sockets with a raw client that can send what
// no real client would: the handshake (options, unknown options, LIST/INFO/GO/EXPORT_NAME/ABORT,
// oversized options, timeouts), every bad-input case of the transmission phase (bad magic,
// unknown command, past the end, over the maximum payload, misaligned, a client vanishing
// mid-header or mid-payload) with other connections still served, the mapping of device errors
// to errno, concurrency (replies out of order, reads not queued behind writes), back-pressure
// (the in-flight limit reaches the device), and winding down (removeExport, close, ESHUTDOWN).
// Method: a memory device whose calls can be held at a gate, so ordering is decided by the test,
// not by timing; every wait in the raw client is bounded.
import { BunkerError } from '@bunker/proto/bunker-error';
import { RawNbdClient, goData } from '../../../test/support/nbd-clients.js';
import { blockDeviceError, type BlockDevice, type WriteOptions, type WriteZeroesOptions } from './block-device.js';
import type { NbdObserver } from './nbd-observer.js';
import { NbdServer, type NbdServerOptions } from './nbd-server.js';
import {
  NBD_CMD_DISC,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_EINVAL,
  NBD_EIO,
  NBD_ENOSPC,
  NBD_EPERM,
  NBD_ESHUTDOWN,
  NBD_FLAG_READ_ONLY,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_SHUTDOWN,
  NBD_REP_ERR_TOO_BIG,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_SERVER,
  NBD_SIMPLE_REPLY_MAGIC,
} from './protocol-constants.js';

type Call = { kind: 'read' | 'write' | 'trim' | 'write-zeroes' | 'flush'; offset: number; length: number; options?: WriteOptions | WriteZeroesOptions };

/** A memory device; while `hold` matches a call, the call waits until `release()`. */
class GatedDevice implements BlockDevice {
  readonly sizeBytes = 1 << 20;
  readonly minimumBlockBytes = 512;
  readonly preferredBlockBytes = 4096;
  readonly maximumPayloadBytes = 1 << 16;
  readonly flushCoversAllWrites = true;
  readonly memory = Buffer.alloc(1 << 20);
  readonly calls: Call[] = [];
  pending = 0;
  hold: (call: Call) => boolean = () => false;
  fail: (call: Call) => unknown = () => undefined;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;

  constructor() {
    this.closeGate();
  }

  closeGate(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.open();
    this.closeGate();
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    await this.enter({ kind: 'read', offset, length });
    return Buffer.from(this.memory.subarray(offset, offset + length));
  }

  async write(offset: number, data: Uint8Array, options: WriteOptions): Promise<void> {
    await this.enter({ kind: 'write', offset, length: data.length, options });
    this.memory.set(data, offset);
  }

  async trim(offset: number, length: number, options: WriteOptions): Promise<void> {
    await this.enter({ kind: 'trim', offset, length, options });
  }

  async writeZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    await this.enter({ kind: 'write-zeroes', offset, length, options });
    this.memory.fill(0, offset, offset + length);
  }

  async flush(): Promise<void> {
    await this.enter({ kind: 'flush', offset: 0, length: 0 });
  }

  private async enter(call: Call): Promise<void> {
    this.calls.push(call);
    this.pending += 1;
    try {
      if (this.hold(call)) await this.gate;
      const failure = this.fail(call);
      if (failure !== undefined) throw failure;
    } finally {
      this.pending -= 1;
    }
  }
}

interface Events {
  requests: { kind: string; bytes: number; errno: number; exportName: string }[];
  connections: string[];
  protocolErrors: string[];
  unexpected: unknown[];
}

let server: NbdServer;
let device: GatedDevice;
let port = 0;
let events: Events;
const clients: RawNbdClient[] = [];

async function start(options: NbdServerOptions = {}): Promise<void> {
  events = { requests: [], connections: [], protocolErrors: [], unexpected: [] };
  const observer: NbdObserver = {
    onRequest: (kind, bytes, _latencyNs, errno, exportName) => events.requests.push({ kind, bytes, errno, exportName }),
    onConnection: (event) => events.connections.push(event),
    onProtocolError: (reason) => events.protocolErrors.push(reason),
    onUnexpectedDeviceError: (error) => events.unexpected.push(error),
  };
  device = new GatedDevice();
  server = new NbdServer({ observer, ...options });
  server.addExport('vol', device, { description: 'gated' });
  port = (await server.listen(0)).port;
}

async function open(name = 'vol'): Promise<RawNbdClient> {
  const { client } = await RawNbdClient.transmission(port, name);
  clients.push(client);
  return client;
}

async function handshake(flags?: number): Promise<RawNbdClient> {
  const { client } = await RawNbdClient.handshake(port, flags);
  clients.push(client);
  return client;
}

async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Proves the server still serves: a fresh connection writes and reads back a block. */
async function stillServes(): Promise<void> {
  const probe = await open();
  probe.sendRequest({ type: NBD_CMD_WRITE, cookie: 900n, offset: 8192n, length: 512 }, Buffer.alloc(512, 0x77));
  expect(await probe.readSimpleReply()).toMatchObject({ errno: 0, cookie: 900n });
  probe.sendRequest({ type: NBD_CMD_READ, cookie: 901n, offset: 8192n, length: 512 });
  const reply = await probe.readSimpleReply(512);
  expect(reply.data.every((byte) => byte === 0x77)).toBe(true);
}

beforeEach(async () => {
  await start();
});

afterEach(async () => {
  device.hold = () => false;
  device.release();
  for (const client of clients.splice(0)) client.destroy();
  await server.close({ signal: AbortSignal.timeout(2_000) });
});

describe('handshake', () => {
  it('greets with the fixed-newstyle magic and flags', async () => {
    const { client, greeting } = await RawNbdClient.handshake(port);
    clients.push(client);
    expect(greeting.toString('hex')).toBe('4e42444d4147494349484156454f50540003');
  });

  it('drops a client that sets an unknown client flag', async () => {
    const client = await handshake(0x8000_0001);
    expect(await client.closedByServer()).toBe(true);
    await until(() => events.protocolErrors.includes('unknown-client-flags'));
  });

  it('drops a client whose option lacks the IHAVEOPT magic, and keeps serving others', async () => {
    const client = await handshake();
    client.write(Buffer.alloc(16, 0x41));
    expect(await client.closedByServer()).toBe(true);
    await stillServes();
  });

  it('answers an unknown option and STRUCTURED_REPLY with ERR_UNSUP, and the client continues to GO', async () => {
    const client = await handshake();
    client.sendOption(0x4242, Buffer.from('whatever'));
    expect(await client.readOptionReply()).toMatchObject({ option: 0x4242, type: NBD_REP_ERR_UNSUP });
    client.sendOption(NBD_OPT_STRUCTURED_REPLY);
    expect((await client.readOptionReply()).type).toBe(NBD_REP_ERR_UNSUP);
    expect((await client.go('vol')).at(-1)?.type).toBe(NBD_REP_ACK);
  });

  it('lists exports, answers INFO without leaving the handshake, refuses an unknown GO with ERR_UNKNOWN', async () => {
    const client = await handshake();
    client.sendOption(NBD_OPT_LIST);
    const server = await client.readOptionReply();
    expect(server.type).toBe(NBD_REP_SERVER);
    expect(server.data.subarray(4, 4 + server.data.readUInt32BE(0)).toString()).toBe('vol');
    expect((await client.readOptionReply()).type).toBe(NBD_REP_ACK);
    client.sendOption(NBD_OPT_INFO, goData('vol', []));
    const info = [await client.readOptionReply(), await client.readOptionReply(), await client.readOptionReply()];
    expect(info.map((reply) => reply.type)).toEqual([NBD_REP_INFO, NBD_REP_INFO, NBD_REP_ACK]);
    expect((await client.go('missing')).map((reply) => reply.type)).toEqual([NBD_REP_ERR_UNKNOWN]);
    expect((await client.go('vol')).at(-1)?.type).toBe(NBD_REP_ACK);
  });

  it('enters transmission with EXPORT_NAME (size, flags, 124 zeroes without NO_ZEROES) and closes for an unknown name', async () => {
    const client = await handshake(0b01);
    client.sendOption(NBD_OPT_EXPORT_NAME, Buffer.from('vol'));
    const reply = await client.read(134);
    expect(reply.readBigUInt64BE(0)).toBe(1n << 20n);
    expect(reply.subarray(10).every((byte) => byte === 0)).toBe(true);
    client.sendRequest({ type: NBD_CMD_READ, cookie: 3n, length: 512 });
    expect((await client.readSimpleReply(512)).errno).toBe(0);

    const other = await handshake();
    other.sendOption(NBD_OPT_EXPORT_NAME, Buffer.from('missing'));
    expect(await other.closedByServer()).toBe(true);
  });

  it('acknowledges ABORT and closes', async () => {
    const client = await handshake();
    client.sendOption(NBD_OPT_ABORT);
    expect((await client.readOptionReply()).type).toBe(NBD_REP_ACK);
    expect(await client.closedByServer()).toBe(true);
  });

  it('discards an oversized option unread, answers ERR_TOO_BIG, and parses the next option', async () => {
    const client = await handshake();
    client.sendOption(NBD_OPT_INFO, Buffer.alloc(100_000, 1));
    expect((await client.readOptionReply()).type).toBe(NBD_REP_ERR_TOO_BIG);
    expect((await client.go('vol')).at(-1)?.type).toBe(NBD_REP_ACK);
  });

  it('drops a client that does not finish the handshake in time', async () => {
    await server.close();
    await start({ handshakeTimeoutMs: 100 });
    const client = await handshake();
    expect(await client.closedByServer(2_000)).toBe(true);
    await until(() => events.protocolErrors.includes('handshake-timeout'));
  });
});

describe('transmission: bad input', () => {
  it('writes and reads back, echoing each cookie', async () => {
    const client = await open();
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 0xfeedfacecafebeefn, offset: 4096n, length: 1024 }, Buffer.alloc(1024, 0x11));
    expect(await client.readSimpleReply()).toEqual({ magic: NBD_SIMPLE_REPLY_MAGIC, errno: 0, cookie: 0xfeedfacecafebeefn, data: Buffer.alloc(0) });
    client.sendRequest({ type: NBD_CMD_READ, cookie: 2n, offset: 4096n, length: 1024 });
    expect((await client.readSimpleReply(1024)).data.equals(Buffer.alloc(1024, 0x11))).toBe(true);
  });

  it('disconnects cleanly on a bad request magic, and other connections keep being served', async () => {
    const bystander = await open();
    const client = await open();
    client.sendRequest({ type: NBD_CMD_READ, magic: 0x12560953, length: 512 });
    expect(await client.closedByServer()).toBe(true);
    await until(() => events.protocolErrors.includes('bad-request-magic'));
    bystander.sendRequest({ type: NBD_CMD_READ, cookie: 5n, length: 512 });
    expect((await bystander.readSimpleReply(512)).errno).toBe(0);
  });

  it('answers an unknown command with EINVAL and goes on', async () => {
    const client = await open();
    client.sendRequest({ type: 99, cookie: 1n, length: 512 });
    expect(await client.readSimpleReply()).toMatchObject({ errno: NBD_EINVAL, cookie: 1n });
    client.sendRequest({ type: NBD_CMD_READ, cookie: 2n, length: 512 });
    expect(await client.readSimpleReply(512)).toMatchObject({ errno: 0, cookie: 2n });
  });

  it('answers a read past the end with EINVAL and a write past the end with ENOSPC, discarding its payload', async () => {
    const client = await open();
    client.sendRequest({ type: NBD_CMD_READ, cookie: 1n, offset: BigInt(1 << 20), length: 512 });
    expect((await client.readSimpleReply()).errno).toBe(NBD_EINVAL);
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 2n, offset: BigInt((1 << 20) - 512), length: 1024 }, Buffer.alloc(1024, 9));
    expect((await client.readSimpleReply()).errno).toBe(NBD_ENOSPC);
    // The discarded payload did not desynchronise the stream: the next request parses.
    client.sendRequest({ type: NBD_CMD_READ, cookie: 3n, offset: BigInt((1 << 20) - 512), length: 512 });
    expect(await client.readSimpleReply(512)).toMatchObject({ errno: 0, cookie: 3n });
    expect(device.calls.some((call) => call.kind === 'write')).toBe(false);
  });

  it('answers a length over the advertised maximum with EINVAL (discarding a write payload up to 2^25)', async () => {
    const client = await open();
    client.sendRequest({ type: NBD_CMD_READ, cookie: 1n, length: (1 << 16) + 512 });
    expect((await client.readSimpleReply()).errno).toBe(NBD_EINVAL);
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 2n, length: 1 << 17 }, Buffer.alloc(1 << 17, 1));
    expect((await client.readSimpleReply()).errno).toBe(NBD_EINVAL);
    client.sendRequest({ type: NBD_CMD_READ, cookie: 3n, length: 512 });
    expect((await client.readSimpleReply(512)).errno).toBe(0);
  });

  it('disconnects a write announcing more than 2^25 payload bytes, and others keep being served', async () => {
    const client = await open();
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 1n, length: (1 << 25) + 512 });
    expect(await client.closedByServer()).toBe(true);
    await stillServes();
  });

  it('answers a misaligned request with EINVAL', async () => {
    const client = await open();
    client.sendRequest({ type: NBD_CMD_READ, cookie: 1n, offset: 100n, length: 512 });
    expect((await client.readSimpleReply()).errno).toBe(NBD_EINVAL);
  });

  it('survives a client vanishing mid-header: nothing is written, others are served', async () => {
    const client = await open();
    client.write(Buffer.from([0x25, 0x60, 0x95, 0x13, 0, 0, 0, 1]));
    await new Promise((resolve) => setTimeout(resolve, 20));
    client.destroy();
    await stillServes();
    expect(device.calls.filter((call) => call.kind === 'write').map((call) => call.offset)).toEqual([8192]);
  });

  it('survives a client vanishing mid-payload: the partial write never reaches the device', async () => {
    const client = await open();
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 1n, offset: 0n, length: 4096 }, Buffer.alloc(1000, 0xee));
    await new Promise((resolve) => setTimeout(resolve, 20));
    client.socket.end();
    await until(() => events.protocolErrors.includes('truncated-message'));
    expect(device.memory.subarray(0, 4096).every((byte) => byte === 0)).toBe(true);
    await stillServes();
  });

  it('passes FUA and NO_HOLE through, and accepts FUA on a read and a flush', async () => {
    const client = await open();
    client.sendRequest({ type: NBD_CMD_WRITE, flags: NBD_CMD_FLAG_FUA, cookie: 1n, length: 512 }, Buffer.alloc(512));
    client.sendRequest({ type: NBD_CMD_WRITE_ZEROES, flags: NBD_CMD_FLAG_NO_HOLE, cookie: 2n, length: 1024 });
    client.sendRequest({ type: NBD_CMD_TRIM, flags: NBD_CMD_FLAG_FUA, cookie: 3n, length: 1024 });
    client.sendRequest({ type: NBD_CMD_READ, flags: NBD_CMD_FLAG_FUA, cookie: 4n, length: 512 });
    client.sendRequest({ type: NBD_CMD_FLUSH, flags: NBD_CMD_FLAG_FUA, cookie: 5n });
    const replies = [await client.readSimpleReply(), await client.readSimpleReply(), await client.readSimpleReply()];
    await until(() => device.calls.length === 5);
    expect(replies.every((reply) => reply.errno === 0)).toBe(true);
    expect(device.calls.find((call) => call.kind === 'write')?.options).toEqual({ fua: true });
    expect(device.calls.find((call) => call.kind === 'write-zeroes')?.options).toEqual({ fua: false, noHole: true });
    expect(device.calls.find((call) => call.kind === 'trim')?.options).toEqual({ fua: true });
  });

  it('refuses writes on a read-only export with EPERM and advertises it', async () => {
    server.addExport('ro', device, { readOnly: true });
    const { client, flags } = await RawNbdClient.transmission(port, 'ro');
    clients.push(client);
    expect(flags & NBD_FLAG_READ_ONLY).not.toBe(0);
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 1n, length: 512 }, Buffer.alloc(512));
    expect((await client.readSimpleReply()).errno).toBe(NBD_EPERM);
  });
});

describe('device errors', () => {
  it.each([
    ['not-primary', NBD_EPERM],
    ['recovery-copy-unavailable', NBD_EIO],
    ['no-space', NBD_ENOSPC],
    ['shutting-down', NBD_ESHUTDOWN],
  ] as const)('answers a %s device error with errno %i', async (code, errno) => {
    device.fail = (call) => (call.kind === 'write' ? blockDeviceError(code, 'refused') : undefined);
    const client = await open();
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 1n, length: 512 }, Buffer.alloc(512));
    expect((await client.readSimpleReply()).errno).toBe(errno);
    expect(events.unexpected).toEqual([]);
  });

  it('answers an unexpected failure with EIO, reports it, and sends no read data', async () => {
    device.fail = (call) => (call.kind === 'read' ? new Error('bug') : undefined);
    const client = await open();
    client.sendRequest({ type: NBD_CMD_READ, cookie: 1n, length: 512 });
    client.sendRequest({ type: NBD_CMD_FLUSH, cookie: 2n });
    expect(await client.readSimpleReply()).toMatchObject({ errno: NBD_EIO, cookie: 1n });
    expect(await client.readSimpleReply()).toMatchObject({ errno: 0, cookie: 2n });
    expect(events.unexpected).toHaveLength(1);
    expect(BunkerError.is(events.unexpected[0])).toBe(false);
  });
});

describe('concurrency and back-pressure', () => {
  it('serves requests concurrently: a later read is answered while an earlier write is held', async () => {
    device.hold = (call) => call.kind === 'write';
    const client = await open();
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 1n, length: 512 }, Buffer.alloc(512, 1));
    client.sendRequest({ type: NBD_CMD_READ, cookie: 2n, offset: 4096n, length: 512 });
    expect((await client.readSimpleReply(512)).cookie).toBe(2n);
    device.release();
    expect((await client.readSimpleReply()).cookie).toBe(1n);
  });

  it('stops reading at the in-flight limit, so the device never sees more, and resumes when requests finish', async () => {
    await server.close();
    await start({ inflightRequestsMax: 4 });
    device.hold = () => true;
    const client = await open();
    for (let index = 0; index < 12; index += 1) client.sendRequest({ type: NBD_CMD_READ, cookie: BigInt(index), offset: BigInt(index * 512), length: 512 });
    await until(() => device.pending === 4);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(device.calls).toHaveLength(4);
    device.hold = () => false;
    device.release();
    const cookies = [];
    for (let index = 0; index < 12; index += 1) cookies.push((await client.readSimpleReply(512)).cookie);
    expect(cookies.sort((a, b) => Number(a - b))).toEqual(Array.from({ length: 12 }, (_, index) => BigInt(index)));
  });

  it('bounds payload bytes in flight too, but always admits a lone request', async () => {
    await server.close();
    await start({ inflightBytesMax: 1024 });
    device.hold = () => true;
    const client = await open();
    client.sendRequest({ type: NBD_CMD_READ, cookie: 1n, length: 4096 });
    client.sendRequest({ type: NBD_CMD_READ, cookie: 2n, length: 512 });
    await until(() => device.pending === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(device.calls).toHaveLength(1);
    device.hold = () => false;
    device.release();
    expect((await client.readSimpleReply(4096)).cookie).toBe(1n);
    expect((await client.readSimpleReply(512)).cookie).toBe(2n);
  });

  it('serves several connections at once, each with its own requests in flight', async () => {
    const connections = await Promise.all(Array.from({ length: 8 }, () => open()));
    await Promise.all(connections.map(async (client, index) => {
      for (let block = 0; block < 8; block += 1) {
        client.sendRequest({ type: NBD_CMD_WRITE, cookie: BigInt(block), offset: BigInt((index * 8 + block) * 512), length: 512 }, Buffer.alloc(512, index + 1));
      }
      for (let block = 0; block < 8; block += 1) expect((await client.readSimpleReply()).errno).toBe(0);
      client.sendRequest({ type: NBD_CMD_READ, cookie: 99n, offset: BigInt(index * 8 * 512), length: 8 * 512 });
      expect((await client.readSimpleReply(8 * 512)).data.every((byte) => byte === index + 1)).toBe(true);
    }));
  });

  it('still answers requests sent just before the client half-closed its side', async () => {
    device.hold = () => true;
    const client = await open();
    client.sendRequest({ type: NBD_CMD_READ, cookie: 1n, length: 512 });
    client.sendRequest({ type: NBD_CMD_READ, cookie: 2n, offset: 512n, length: 512 });
    client.socket.end();
    await until(() => device.pending === 2);
    device.release();
    const cookies = [(await client.readSimpleReply(512)).cookie, (await client.readSimpleReply(512)).cookie];
    expect(cookies.sort()).toEqual([1n, 2n]);
    expect(await client.closedByServer()).toBe(true);
  });

  it('answers everything in flight before closing on DISC', async () => {
    device.hold = (call) => call.kind === 'write';
    const client = await open();
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 1n, length: 512 }, Buffer.alloc(512, 3));
    client.sendRequest({ type: NBD_CMD_DISC, cookie: 2n });
    await until(() => device.pending === 1);
    device.release();
    expect(await client.readSimpleReply()).toMatchObject({ errno: 0, cookie: 1n });
    expect(await client.closedByServer()).toBe(true);
  });
});

describe('winding down', () => {
  it('removeExport refuses new sessions, finishes in-flight requests, refuses later ones with ESHUTDOWN, then closes', async () => {
    device.hold = (call) => call.kind === 'write';
    const client = await open();
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 1n, length: 512 }, Buffer.alloc(512, 5));
    await until(() => device.pending === 1);
    let removed = false;
    const removal = server.removeExport('vol').then(() => (removed = true));
    const late = await handshake();
    expect((await late.go('vol')).map((reply) => reply.type)).toEqual([NBD_REP_ERR_UNKNOWN]);
    client.sendRequest({ type: NBD_CMD_READ, cookie: 2n, length: 512 });
    expect(await client.readSimpleReply()).toMatchObject({ errno: NBD_ESHUTDOWN, cookie: 2n });
    expect(removed).toBe(false);
    device.release();
    expect(await client.readSimpleReply()).toMatchObject({ errno: 0, cookie: 1n });
    expect(await client.closedByServer()).toBe(true);
    await removal;
    expect(device.pending).toBe(0);
    expect(server.exportNames()).toEqual([]);
  });

  it('delivers the last replies intact when the client keeps sending while the export is removed', async () => {
    device.hold = (call) => call.kind === 'write';
    const client = await open();
    client.sendRequest({ type: NBD_CMD_WRITE, cookie: 1n, length: 4096 }, Buffer.alloc(4096, 6));
    await until(() => device.pending === 1);
    const removal = server.removeExport('vol');
    for (let index = 0; index < 50; index += 1) client.sendRequest({ type: NBD_CMD_READ, cookie: BigInt(100 + index), length: 512 });
    device.release();
    const replies = new Map<bigint, number>();
    while (!replies.has(1n)) {
      const reply = await client.readSimpleReply();
      replies.set(reply.cookie, reply.errno);
    }
    expect(replies.get(1n)).toBe(0);
    expect([...replies.entries()].filter(([cookie]) => cookie !== 1n).every(([, errno]) => errno === NBD_ESHUTDOWN)).toBe(true);
    await removal;
    expect(device.memory.subarray(0, 4096).every((byte) => byte === 6)).toBe(true);
  });

  it('close() stops accepting, answers options with ERR_SHUTDOWN, and finishes in-flight requests', async () => {
    device.hold = (call) => call.kind === 'read';
    const client = await open();
    const negotiating = await handshake();
    client.sendRequest({ type: NBD_CMD_READ, cookie: 1n, length: 512 });
    await until(() => device.pending === 1);
    const closing = server.close();
    negotiating.sendOption(NBD_OPT_LIST);
    expect((await negotiating.readOptionReply()).type).toBe(NBD_REP_ERR_SHUTDOWN);
    negotiating.sendOption(NBD_OPT_ABORT);
    expect((await negotiating.readOptionReply()).type).toBe(NBD_REP_ACK);
    await expect(RawNbdClient.connect(port)).rejects.toThrow();
    device.release();
    expect(await client.readSimpleReply(512)).toMatchObject({ errno: 0, cookie: 1n });
    await closing;
    expect(device.pending).toBe(0);
  });

  it('close() with an aborted signal drops connections at once, yet waits for device calls to settle', async () => {
    device.hold = () => true;
    const client = await open();
    client.sendRequest({ type: NBD_CMD_READ, cookie: 1n, length: 512 });
    await until(() => device.pending === 1);
    let closed = false;
    const closing = server.close({ signal: AbortSignal.abort() }).then(() => (closed = true));
    expect(await client.closedByServer()).toBe(true);
    expect(closed).toBe(false);
    device.release();
    await closing;
    expect(device.pending).toBe(0);
  });

  it('refuses a duplicate export name and reports connections to the observer', async () => {
    expect(() => server.addExport('vol', device)).toThrow(expect.objectContaining({ code: 'nbd-export-exists' }));
    const client = await open();
    client.sendRequest({ type: NBD_CMD_READ, cookie: 1n, length: 512 });
    await client.readSimpleReply(512);
    client.sendRequest({ type: NBD_CMD_DISC });
    await client.closedByServer();
    await until(() => events.connections.length === 2);
    expect(events.connections).toEqual(['open', 'close']);
    expect(events.requests).toEqual([{ kind: 'read', bytes: 512, errno: 0, exportName: 'vol' }]);
  });
});

describe('limits', () => {
  it('refuses a connection past connectionsMax, says so to the observer, and serves again once one closes', async () => {
    await server.close({ signal: AbortSignal.timeout(2_000) });
    const refused: string[] = [];
    device = new GatedDevice();
    server = new NbdServer({ connectionsMax: 1, observer: { onRequest: () => undefined, onConnection: () => undefined, onConnectionRefused: (remote) => refused.push(remote) } });
    server.addExport('vol', device, { description: 'gated' });
    port = (await server.listen(0)).port;
    const first = await open();
    const second = await handshake().catch(() => undefined);
    await until(() => refused.length === 1);
    second?.destroy();
    first.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await stillServes();
  });
});
