// One outgoing replication stream (primary -> bunker, or primary -> secondary): where the
// peer stands, what is in flight, when to say hello again. It builds at most one batch per
// Ready, bounded in entries and bytes, and never lets more than the in-flight limit go out
// unacknowledged: a slow peer pushes back instead of growing a queue.
//
// Reconnect protocol: a stream opens with a hello; the peer's hello-ack carries its durable
// sequence and sending resumes right after it. Silence for resendTicks (heartbeats keep an
// idle healthy stream talking) or a link-down reopens the stream the same way. A receiver
// that dropped entries (no room) keeps answering, so it is not silent: it sends a hello-ack
// unasked, and sending resumes right after its durable sequence the same way. Resending is
// always safe: receivers skip entries they already have.
import type { NodeName, Seq } from '@bunker/proto/ids';
import { SEQ_NONE } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import type { ReplicaLimits } from './config.js';
import { entryBytes, type EntryWindow } from './entry-window.js';
import type { LogRead } from './ready.js';

export type SenderPhase = 'hello-due' | 'hello-sent' | 'streaming';

export interface SendBatch {
  readonly hello: boolean;
  readonly entries: readonly Entry[];
}

export interface SendSource {
  /** Entries the primary still holds in memory. */
  readonly window: EntryWindow;
  /** The highest sequence this stream may carry now. */
  readonly eligibleThroughSeq: Seq;
  nextReadId(): number;
  /** Where to put a log read when the entries to send are no longer in memory. */
  readonly reads: LogRead[];
}

interface PendingRead {
  readonly readId: number;
  readonly afterSeq: Seq;
  entries: readonly Entry[] | null;
}

export class PeerSender {
  phase: SenderPhase = 'hello-due';
  /** Set by the first hello-ack of this incarnation. */
  everHandshaked = false;
  /** Ticks since the peer last answered. */
  silentTicks = 0;
  private acked: Seq = SEQ_NONE;
  private applied: Seq = SEQ_NONE;
  private nextSeq: number;
  private idleTicks = 0;
  private read: PendingRead | null = null;
  private readStalled = false;
  /** One record per batch in flight: bounded because each holds at least one entry. */
  private inflight: { throughSeq: Seq; bytes: number }[] = [];
  private inflightBytes = 0;

  constructor(
    readonly peer: NodeName,
    private readonly limits: ReplicaLimits,
  ) {
    this.nextSeq = 1;
  }

  get ackedSeq(): Seq {
    return this.acked;
  }

  get appliedSeq(): Seq {
    return this.applied;
  }

  onAck(hello: boolean, durableSeq: Seq, appliedSeq: Seq): void {
    this.silentTicks = 0;
    if (durableSeq > this.acked) this.acked = durableSeq;
    if (appliedSeq > this.applied) this.applied = appliedSeq;
    while (this.inflight.length > 0 && (this.inflight[0]?.throughSeq ?? Infinity) <= this.acked) {
      this.inflightBytes -= this.inflight.shift()?.bytes ?? 0;
    }
    if (hello && this.phase === 'hello-sent') {
      this.phase = 'streaming';
      this.everHandshaked = true;
      // Resume right after what the peer holds durably (it may hold less than we thought).
      this.nextSeq = durableSeq + 1;
      this.forgetInflight();
    } else if (hello && this.phase === 'streaming') {
      // Unasked (or a late duplicate): the peer dropped entries (no room, or a gap after that)
      // and keeps answering, so silence would never trigger a resend. Resume after what it
      // holds; never below what it acknowledged, which may be trimmed here already.
      this.nextSeq = this.acked + 1;
      this.read = null;
      this.forgetInflight();
    }
  }

  tick(): void {
    this.silentTicks += 1;
    this.idleTicks += 1;
    this.readStalled = false;
    if (this.silentTicks % this.limits.resendTicks === 0) this.reopen();
  }

  /** The stream broke, or the peer went silent: hello again, then resend from the last ack. */
  reopen(): void {
    this.phase = 'hello-due';
    this.nextSeq = this.acked + 1;
    this.read = null;
    this.forgetInflight();
  }

  onRead(readId: number, entries: readonly Entry[]): void {
    const read = this.read;
    if (read === null || read.readId !== readId) return;
    const first = entries[0];
    if (first === undefined || first.seq !== read.afterSeq + 1) {
      // Nothing usable (the log moved on): try again after the next tick, not in a loop.
      this.read = null;
      this.readStalled = true;
      return;
    }
    read.entries = entries;
  }

  /** At most one batch per call; null when there is nothing to say. */
  poll(source: SendSource): SendBatch | null {
    switch (this.phase) {
      case 'hello-due':
        this.phase = 'hello-sent';
        this.idleTicks = 0;
        return { hello: true, entries: [] };
      case 'hello-sent':
        return null;
      case 'streaming':
        return this.stream(source);
    }
  }

  private stream(source: SendSource): SendBatch | null {
    const entries = this.collect(source);
    if (entries.length === 0 && this.idleTicks < this.limits.heartbeatTicks) return null;
    this.idleTicks = 0;
    const last = entries[entries.length - 1];
    if (last !== undefined) {
      const bytes = entries.reduce((sum, entry) => sum + entryBytes(entry), 0);
      this.inflight.push({ throughSeq: last.seq, bytes });
      this.inflightBytes += bytes;
    }
    return { hello: false, entries };
  }

  private collect(source: SendSource): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    while (this.nextSeq <= source.eligibleThroughSeq && out.length < this.limits.batchEntriesMax) {
      if (this.nextSeq - 1 - this.acked >= this.limits.inflightEntriesMax) break;
      const seq = this.nextSeq as Seq;
      const entry = source.window.get(seq) ?? this.fromRead(seq);
      if (entry === undefined) {
        this.requestRead(source);
        break;
      }
      const size = entryBytes(entry);
      const overBatch = out.length > 0 && bytes + size > this.limits.batchBytesMax;
      const overInflight = this.inflightBytes + bytes + size > this.limits.inflightBytesMax && (out.length > 0 || this.inflightBytes > 0);
      if (overBatch || overInflight) break;
      out.push(entry);
      bytes += size;
      this.nextSeq += 1;
    }
    return out;
  }

  private fromRead(seq: Seq): Entry | undefined {
    const entries = this.read?.entries;
    if (entries === null || entries === undefined) return undefined;
    const first = entries[0];
    const entry = first === undefined ? undefined : entries[seq - first.seq];
    if (entry === undefined) this.read = null;
    return entry;
  }

  private requestRead(source: SendSource): void {
    if (this.read !== null || this.readStalled) return;
    const windowFirst = source.window.firstSeq();
    const through = windowFirst === null ? source.eligibleThroughSeq : Math.min(source.eligibleThroughSeq, windowFirst - 1);
    if (through < this.nextSeq) return;
    const readId = source.nextReadId();
    const afterSeq = (this.nextSeq - 1) as Seq;
    this.read = { readId, afterSeq, entries: null };
    source.reads.push({
      readId,
      afterSeq,
      throughSeq: through as Seq,
      maxEntries: this.limits.batchEntriesMax,
      maxBytes: this.limits.batchBytesMax,
    });
  }

  private forgetInflight(): void {
    this.inflight = [];
    this.inflightBytes = 0;
  }
}
