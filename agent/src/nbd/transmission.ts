// The transmission phase of one connection: a loop reads requests one after another and hands
// each to the device without waiting for the previous ones, so many requests are in flight at
// once and replies go out in completion order, each carrying its request's cookie. A read is
// never queued behind a write here; it waits only on what the device itself orders.
//
// Limits: at most `inflightRequestsMax` requests and `inflightBytesMax` payload bytes (read and
// write data) are in flight per connection; a request stays in flight until its reply has been
// handed to the kernel. At a limit the loop stops reading, which stops the socket (see
// socket-reader.ts) and pushes back on the client. A request larger than the byte budget is
// still admitted when it is alone, so no legal request can stall.
//
// Ending: DISC, a protocol violation, the client leaving, or `shutdown()` all stop new work;
// requests already in flight finish and are answered, then the socket is closed. After
// `shutdown()`, requests that still arrive are answered with ESHUTDOWN, which the spec asks the
// client to answer with a soft disconnect. `run()` resolves only when no device call is pending,
// so the owner may close the device right after.
import type { Socket } from 'node:net';
import type { BlockDevice } from './block-device.js';
import { closeGracefully } from './close-socket.js';
import { errnoForDeviceError } from './errno-mapping.js';
import type { NbdExport } from './nbd-export.js';
import type { NbdObserver, ProtocolErrorReason } from './nbd-observer.js';
import {
  NBD_ESHUTDOWN,
  NBD_OK,
  NBD_SIMPLE_REPLY_MAGIC,
  REQUEST_HEADER_BYTES,
  SIMPLE_REPLY_HEADER_BYTES,
  type NbdErrno,
} from './protocol-constants.js';
import { parseRequest, type NbdRequest, type NbdRequestKind } from './request-parser.js';
import type { SocketReader } from './socket-reader.js';

export interface TransmissionLimits {
  readonly inflightRequestsMax: number;
  readonly inflightBytesMax: number;
}

export type TransmissionEnd =
  | { readonly kind: 'client-disconnected' }
  | { readonly kind: 'client-left' }
  | { readonly kind: 'server-shutdown' }
  | { readonly kind: 'protocol-error'; readonly reason: ProtocolErrorReason };

type Served = Exclude<NbdRequest, { kind: 'disconnect' }>;

export class Transmission {
  private inflightRequests = 0;
  private inflightBytes = 0;
  private shuttingDown = false;
  private closing: Promise<void> | null = null;
  private repliesCorked = false;
  /** The loop, parked until a slot frees or the connection must stop. */
  private wakeLoop: (() => void) | null = null;
  private wakeDrained: (() => void) | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly reader: SocketReader,
    private readonly target: NbdExport,
    private readonly limits: TransmissionLimits,
    private readonly observer: NbdObserver | undefined,
  ) {}

  /** Serves requests until the session ends; resolves once every request has been answered. */
  async run(): Promise<TransmissionEnd> {
    let end: TransmissionEnd;
    try {
      end = await this.readLoop();
    } finally {
      await this.drained();
    }
    await this.closeSocket();
    return end;
  }

  /** Soft shutdown: answer what is in flight, refuse the rest with ESHUTDOWN, then close. */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.wake();
    // With nothing in flight there is nothing to wait for: close now, which ends the read loop.
    if (this.inflightRequests === 0) void this.closeSocket();
  }

  private async readLoop(): Promise<TransmissionEnd> {
    for (;;) {
      if (!(await this.admit(0))) return { kind: 'server-shutdown' };
      const head = await this.reader.read(REQUEST_HEADER_BYTES);
      if (head.kind === 'end') return this.endedBy(head.receivedBytes);
      const verdict = parseRequest(head.bytes, this.target);
      if (verdict.kind === 'short-input') throw new Error('unreachable: a full header was read');
      if (verdict.kind === 'protocol-error') {
        return { kind: 'protocol-error', reason: verdict.reason === 'bad-magic' ? 'bad-request-magic' : 'payload-too-large' };
      }
      if (verdict.kind === 'reject') {
        if (!(await this.reader.skip(verdict.discardBytes))) return this.endedBy(1);
        this.answer(verdict.command, verdict.cookie, verdict.errno, process.hrtime.bigint());
        continue;
      }
      const request = verdict.request;
      if (request.kind === 'disconnect') return { kind: 'client-disconnected' };
      const ended = await this.receive(request);
      if (ended !== null) return ended;
    }
  }

  /** Reads the request's payload (for a write) and starts it; null while the session goes on. */
  private async receive(request: Served): Promise<TransmissionEnd | null> {
    const payloadBytes = request.kind === 'read' || request.kind === 'write' ? request.length : 0;
    if (!(await this.admit(payloadBytes))) return { kind: 'server-shutdown' };
    if (this.shuttingDown) {
      if (request.kind === 'write' && !(await this.reader.skip(request.length))) return this.endedBy(1);
      this.answer(request.kind, request.cookie, NBD_ESHUTDOWN, process.hrtime.bigint());
      return null;
    }
    let payload: Uint8Array | undefined;
    if (request.kind === 'write') {
      const data = await this.reader.read(request.length);
      if (data.kind === 'end') return this.endedBy(1);
      payload = data.bytes;
    }
    this.start(payloadBytes, this.serve(request, payload, process.hrtime.bigint()));
    return null;
  }

  /** Accounts for one request until `work` settles (it never rejects). */
  private start(payloadBytes: number, work: Promise<void>): void {
    this.inflightRequests += 1;
    this.inflightBytes += payloadBytes;
    void work.finally(() => {
      this.inflightRequests -= 1;
      this.inflightBytes -= payloadBytes;
      this.wake();
      if (this.inflightRequests === 0) {
        this.wakeDrained?.();
        if (this.shuttingDown) void this.closeSocket();
      }
    });
  }

  private async serve(request: Served, payload: Uint8Array | undefined, receivedNs: bigint): Promise<void> {
    let errno: NbdErrno = NBD_OK;
    let data: Uint8Array | undefined;
    try {
      data = await execute(this.target.device, request, payload);
    } catch (error) {
      const verdict = errnoForDeviceError(error);
      errno = verdict.errno;
      if (!verdict.expected) this.observer?.onUnexpectedDeviceError?.(error, this.target.name);
    }
    await this.reply(request.kind, request.cookie, errno, data, receivedNs, 'length' in request ? request.length : 0);
  }

  /** Sends a reply that needs no device call (a refusal) while keeping it counted in flight. */
  private answer(kind: NbdRequestKind, cookie: bigint, errno: NbdErrno, receivedNs: bigint): void {
    this.start(0, this.reply(kind, cookie, errno, undefined, receivedNs, 0));
  }

  /** Resolves once the reply is in the kernel's hands, or the socket is gone. */
  private reply(kind: NbdRequestKind, cookie: bigint, errno: NbdErrno, data: Uint8Array | undefined, receivedNs: bigint, bytes: number): Promise<void> {
    this.observer?.onRequest(kind, bytes, Number(process.hrtime.bigint() - receivedNs), errno, this.target.name);
    if (this.socket.destroyed || !this.socket.writable) return Promise.resolve();
    const header = Buffer.allocUnsafe(SIMPLE_REPLY_HEADER_BYTES);
    header.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
    header.writeUInt32BE(errno, 4);
    header.writeBigUInt64BE(cookie, 8);
    this.batchReplies();
    return new Promise((resolve) => {
      if (data === undefined || errno !== NBD_OK) {
        this.socket.write(header, () => resolve());
        return;
      }
      // Corked: header and data leave in the same writev, with no other reply between them.
      this.socket.write(header);
      this.socket.write(data, () => resolve());
    });
  }

  /**
   * Replies completed together leave in one writev: the socket is corked at the first of them
   * and uncorked on the next tick, which runs once the promise jobs queued with it (the other
   * requests answered by the same device step) have run. Under load this saves a system call
   * per reply; at queue depth 1 it costs no turn of the event loop.
   */
  private batchReplies(): void {
    if (this.repliesCorked) return;
    this.repliesCorked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.repliesCorked = false;
      this.socket.uncork();
    });
  }

  /** Waits for room for one more request of `payloadBytes`; false if the session must stop. */
  private async admit(payloadBytes: number): Promise<boolean> {
    for (;;) {
      if (this.shuttingDown && this.inflightRequests === 0) return false;
      const roomForRequest = this.inflightRequests < this.limits.inflightRequestsMax;
      // Once shutting down no payload is kept (writes are discarded, reads refused), so only
      // the count of unanswered requests limits the loop.
      const roomForBytes = this.shuttingDown || this.inflightRequests === 0 ||
        this.inflightBytes + payloadBytes <= this.limits.inflightBytesMax;
      if (roomForRequest && roomForBytes) return true;
      await new Promise<void>((resolve) => {
        this.wakeLoop = resolve;
      });
    }
  }

  private wake(): void {
    const wakeLoop = this.wakeLoop;
    this.wakeLoop = null;
    wakeLoop?.();
  }

  private drained(): Promise<void> {
    if (this.inflightRequests === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.wakeDrained = resolve;
    });
  }

  private endedBy(receivedBytes: number): TransmissionEnd {
    if (this.shuttingDown) return { kind: 'server-shutdown' };
    return receivedBytes === 0 ? { kind: 'client-left' } : { kind: 'protocol-error', reason: 'truncated-message' };
  }

  /** Idempotent; resolves when the socket is closed. Never rejects. */
  private closeSocket(): Promise<void> {
    this.closing ??= closeGracefully(this.socket, this.reader);
    return this.closing;
  }
}

/** Calls the device for one validated request; resolves with the data of a read. */
async function execute(device: BlockDevice, request: Served, payload: Uint8Array | undefined): Promise<Uint8Array | undefined> {
  // The spec leaves zero-length requests unspecified but asks servers not to disconnect:
  // they succeed without touching the device.
  if (request.kind !== 'flush' && request.length === 0) return request.kind === 'read' ? new Uint8Array(0) : undefined;
  switch (request.kind) {
    case 'read': {
      const data = await device.read(request.offset, request.length);
      if (data.length !== request.length) throw new Error(`device returned ${data.length} bytes for a ${request.length}-byte read`);
      return data;
    }
    case 'write':
      if (payload === undefined) throw new Error('unreachable: a write without its payload');
      await device.write(request.offset, payload, { fua: request.fua });
      return undefined;
    case 'flush':
      await device.flush();
      return undefined;
    case 'trim':
      await device.trim(request.offset, request.length, { fua: request.fua });
      return undefined;
    case 'write-zeroes':
      await device.writeZeroes(request.offset, request.length, { fua: request.fua, noHole: request.noHole });
      return undefined;
  }
}
