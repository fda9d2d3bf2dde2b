// The network under one volume's replica: turns the core's outbound messages into gRPC stream
// writes and unary calls, and incoming gRPC traffic into core events. The core decides what
// to send and when to resend; this layer only carries, and reports a broken stream as a
// link-down event so the core resends from the last acknowledgement.
//
// Streams: the primary opens Append (to the bunker) and Ship (to the secondary) as a client;
// the receiving side registers the server end of each stream under the sender's node name and
// answers on it. The drain's Fetch is a unary call: the bunker's answer (a fetch-block or a
// stale-epoch from its core) completes the oldest pending call from that peer.
import type { Http2Session } from 'node:http2';
import { Metadata, status, type ClientDuplexStream, type sendUnaryData, type ServerDuplexStream } from '@grpc/grpc-js';
import type { FetchBlock, FetchRequest, LogAck, LogBatch } from '@bunker/proto';
import type { Epoch, NodeName } from '@bunker/proto/ids';
import type { Event, OutboundMessage } from '../replication/index.js';
import { FLOW_CONTROL_WINDOW_BYTES, type ReplicationClients } from './replication-clients.js';
import {
  ackFromWire, ackToWire, batchToWire, fetchBlockFromWire, fetchBlockToWire, fetchRequestToWire, type EntryLimits,
} from './wire-codec.js';

type StreamKind = 'append' | 'ship';
type ServerStream = ServerDuplexStream<LogBatch, LogAck>;
type ClientStream = ClientDuplexStream<LogBatch, LogAck>;

/** Pending Fetch calls from one peer awaiting the core's answer; bounded. */
const PENDING_FETCHES_MAX = 8;
const FETCH_DEADLINE_MS = 10_000;

export interface PeerLinksOptions {
  readonly volume: string;
  readonly node: string;
  readonly clients: ReplicationClients;
  readonly addressOf: (node: NodeName) => string | undefined;
  readonly deliver: (event: Event) => void;
  readonly entryLimits: () => EntryLimits;
  readonly onError: (error: unknown, what: string) => void;
}

export class PeerLinks {
  private readonly outbound = new Map<string, ClientStream>();
  private readonly inbound = new Map<string, ServerStream>();
  private readonly fetches = new Map<string, Array<sendUnaryData<FetchBlock>>>();
  private closed = false;

  constructor(private readonly options: PeerLinksOptions) {}

  send(out: OutboundMessage): void {
    if (this.closed) return;
    const { to, message } = out;
    switch (message.kind) {
      case 'append':
      case 'ship':
        return this.writeOutbound(to, message.kind, batchToWire(this.options.volume, this.options.node, message));
      case 'append-ack':
      case 'ship-ack':
        return this.writeInbound(to, message.kind === 'append-ack' ? 'append' : 'ship', ackToWire(this.options.volume, message));
      case 'fetch-request':
        return this.fetch(to, fetchRequestToWire(this.options.volume, this.options.node, message));
      case 'fetch-block':
        return this.answerFetch(to, fetchBlockToWire(message));
      case 'stale-epoch':
        if (message.refused === 'fetch-request') return this.answerFetch(to, staleBlock(message.epoch));
        return this.writeInbound(to, message.refused, { volume: this.options.volume, epoch: message.epoch, session: 0, hello: false, durableSeq: 0, appliedSeq: 0, staleEpoch: true });
      default: {
        const unknown: never = message;
        throw new Error(`unhandled message ${JSON.stringify(unknown)}`);
      }
    }
  }

  private key(peer: string, kind: StreamKind): string {
    return `${kind}:${peer}`;
  }

  private writeOutbound(peer: NodeName, kind: StreamKind, batch: LogBatch): void {
    let stream = this.outbound.get(this.key(peer, kind));
    if (stream === undefined) {
      const address = this.options.addressOf(peer);
      if (address === undefined) {
        this.options.deliver({ kind: 'link-down', peer });
        return;
      }
      const client = this.options.clients.get(address);
      stream = kind === 'append' ? client.append() : client.ship();
      this.watchOutbound(peer, kind, stream);
      this.outbound.set(this.key(peer, kind), stream);
    }
    stream.write(batch);
  }

  private watchOutbound(peer: NodeName, kind: StreamKind, stream: ClientStream): void {
    let down = false;
    const linkDown = (): void => {
      if (down) return;
      down = true;
      if (this.outbound.get(this.key(peer, kind)) === stream) this.outbound.delete(this.key(peer, kind));
      if (!this.closed) this.options.deliver({ kind: 'link-down', peer });
    };
    stream.on('data', (ack: LogAck) => {
      if (ack.staleEpoch) {
        this.options.deliver({ kind: 'message', from: peer, message: { kind: 'stale-epoch', epoch: ack.epoch as Epoch, refused: kind } });
        return;
      }
      try {
        this.options.deliver({ kind: 'message', from: peer, message: ackFromWire(ack, kind) });
      } catch (error) {
        this.options.onError(error, `${kind} ack from ${peer}`);
        stream.cancel();
      }
    });
    stream.on('error', linkDown);
    stream.on('end', linkDown);
    stream.on('close', linkDown);
  }

  /** The receiving end: a peer opened a stream to us; answers to it go here from now on. */
  attachInbound(peer: NodeName, kind: StreamKind, call: ServerStream): void {
    widenReceiveWindow(call);
    const previous = this.inbound.get(this.key(peer, kind));
    this.inbound.set(this.key(peer, kind), call);
    if (previous !== undefined && previous !== call) previous.end();
    const detach = (): void => {
      if (this.inbound.get(this.key(peer, kind)) === call) this.inbound.delete(this.key(peer, kind));
    };
    call.on('error', detach);
    call.on('close', detach);
    call.on('end', detach);
  }

  private writeInbound(peer: NodeName, kind: StreamKind, ack: LogAck): void {
    // No stream from that peer right now: the answer is dropped; the sender resends.
    this.inbound.get(this.key(peer, kind))?.write(ack);
  }

  private fetch(peer: NodeName, request: FetchRequest): void {
    const address = this.options.addressOf(peer);
    if (address === undefined) return;
    this.options.clients.get(address).fetch(request, new Metadata(), { deadline: new Date(Date.now() + FETCH_DEADLINE_MS) }, (error, block) => {
      if (this.closed) return;
      if (error !== null) {
        // The core repeats an unanswered fetch after its timeout.
        this.options.onError(error, `fetch from ${peer}`);
        return;
      }
      if (block.staleEpoch) {
        this.options.deliver({ kind: 'message', from: peer, message: { kind: 'stale-epoch', epoch: block.epoch as Epoch, refused: 'fetch-request' } });
        return;
      }
      try {
        this.options.deliver({ kind: 'message', from: peer, message: fetchBlockFromWire(block, this.options.entryLimits()) });
      } catch (decodeError) {
        this.options.onError(decodeError, `fetch block from ${peer}`);
      }
    });
  }

  /** The serving end of Fetch: park the callback until the core answers (bounded). */
  parkFetch(peer: NodeName, callback: sendUnaryData<FetchBlock>): boolean {
    const queue = this.fetches.get(peer) ?? [];
    if (queue.length >= PENDING_FETCHES_MAX) return false;
    queue.push(callback);
    this.fetches.set(peer, queue);
    return true;
  }

  private answerFetch(peer: NodeName, block: FetchBlock): void {
    this.fetches.get(peer)?.shift()?.(null, block);
  }

  close(): void {
    this.closed = true;
    for (const stream of this.outbound.values()) stream.end();
    for (const stream of this.inbound.values()) stream.end();
    for (const queue of this.fetches.values()) {
      for (const callback of queue) callback({ code: status.UNAVAILABLE, details: 'volume closed' }, null);
    }
    this.outbound.clear();
    this.inbound.clear();
    this.fetches.clear();
  }
}

/** HTTP/2 sessions whose receive windows were widened already. */
const widened = new WeakSet<Http2Session>();

/**
 * Widens the HTTP/2 receive windows (the connection's and each stream's) of the session an
 * inbound stream arrived on. A gRPC server in grpc-js 1.14 takes no window option, so it
 * receives with HTTP/2's default 64 KiB windows: a 1 MiB entry then needs about sixteen
 * window updates, each a round trip through both event loops. Every log batch and ship
 * arrives on a server stream, so the sender's bytes in flight are bounded by these windows;
 * they are as large as the clients' (replication-clients.ts), and the log's own in-flight
 * limits still bound what is waiting. The session is reached through grpc-js internals; when
 * they are not as expected, nothing changes (the default windows keep working, only slower).
 */
function widenReceiveWindow(call: ServerStream): void {
  try {
    const session = http2SessionOf(call);
    if (session === undefined || widened.has(session) || session.destroyed) return;
    widened.add(session);
    session.setLocalWindowSize(FLOW_CONTROL_WINDOW_BYTES);
    session.settings({ initialWindowSize: FLOW_CONTROL_WINDOW_BYTES });
  } catch {
    // Best effort: a session closing meanwhile refuses new settings; the stream goes down anyway.
  }
}

function http2SessionOf(call: ServerStream): Http2Session | undefined {
  // ServerDuplexStreamImpl.call is the intercepting call; without interceptors it is the base
  // call, whose `stream` is the ServerHttp2Stream; with interceptors, `nextCall` leads to it.
  let inner: unknown = (call as unknown as { call?: unknown }).call;
  for (let depth = 0; depth < 8 && typeof inner === 'object' && inner !== null; depth += 1) {
    const stream = (inner as { stream?: { session?: unknown } }).stream;
    if (stream?.session !== undefined) return isSession(stream.session) ? stream.session : undefined;
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

function isSession(value: unknown): value is Http2Session {
  return typeof value === 'object' && value !== null &&
    typeof (value as Partial<Http2Session>).setLocalWindowSize === 'function' &&
    typeof (value as Partial<Http2Session>).settings === 'function';
}

function staleBlock(epoch: Epoch): FetchBlock {
  return { epoch, afterSeq: 0, entries: [], bunkerDurableSeq: 0, bunkerFirstSeq: 0, primaryAppliedSeq: 0, staleEpoch: true };
}
