// The primary: serves the consumer, assigns sequences, appends locally while sending to the
// bunker, applies and acknowledges once both are durable, ships committed entries to the
// secondary, and trims only below what the secondary holds durably.
//
// Invariants this file keeps (checked by test/sim):
//  - commitSeq = min(local durable, bunker durable) in recovery: sync (local durable in
//    recovery: none). Only entries <= commitSeq are applied or shipped, and a write is
//    answered only once applied; so an acknowledged write is always in the bunker's log copy
//    or already on the secondary, and the secondary never holds an entry that a primary
//    restart could take back.
//  - No sequence is assigned before this incarnation's hello was answered by the bunker
//    (recovering state): the hello carries the log tail, above which the bunker drops what the
//    previous incarnation sent but never made durable here. Once this incarnation created an
//    entry, no hello asks for a truncation again (it could cut acknowledged entries).
//  - Every queue is bounded: the window (entries not yet applied or not yet at the bunker),
//    the pending requests, each stream's in-flight batches.
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import { SEQ_NONE } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { assert } from './assert.js';
import type { ChangeMap } from './change-map.js';
import { EntryWindow } from './entry-window.js';
import type { Intent } from './intent.js';
import type { PeerMessage } from './message.js';
import { PeerSender, type SendSource } from './peer-sender.js';
import { checkPrimaryTransition, type PrimaryState } from './primary-state.js';
import type { Health } from './ready.js';
import type { ConsumerRequest, RequestFailure } from './request.js';
import { validateRequest } from './request-validation.js';
import type { Carried, RoleContext, RoleMachine, RoleSignal, RoleStatus } from './role-machine.js';
import type { TransitionRejection } from './transition-check.js';

interface PendingRequest {
  readonly id: number;
  readonly kind: 'entry' | 'flush';
  /** The request's entry, or for a flush the last entry before it. */
  readonly seq: Seq;
  readonly fua: boolean;
}

export interface PrimaryStart {
  readonly incarnation: number;
  readonly carried: Carried;
}

export class Primary implements RoleMachine {
  readonly role = 'primary' as const;
  private state: PrimaryState = 'recovering';
  private readonly window: EntryWindow;
  private pending: PendingRequest[] = [];
  private bunker: PeerSender | null = null;
  private secondary: PeerSender | null = null;
  private readonly incarnation: number;
  private readonly epoch: Epoch;
  private readonly startTailSeq: Seq;
  private lastSeq: Seq;
  private durableSeq: Seq;
  private appliedSeq: Seq;
  private applyRequestedSeq: Seq;
  private trimmedSeq: Seq;
  private changeMap: ChangeMap | null;
  private dataFailed: string | null;
  private signal: RoleSignal | null = null;
  private fencedBy: Epoch | null = null;

  constructor(
    private readonly ctx: RoleContext,
    start: PrimaryStart,
  ) {
    const { carried } = start;
    const limits = ctx.config.limits;
    this.incarnation = start.incarnation;
    this.epoch = ctx.intent().epoch;
    this.window = new EntryWindow(limits.windowEntriesMax, limits.windowBytesMax);
    for (const entry of carried.unapplied) this.window.pushAnyway(entry);
    this.lastSeq = carried.log.lastSeq;
    this.durableSeq = carried.log.durableSeq;
    this.appliedSeq = carried.appliedSeq;
    this.applyRequestedSeq = carried.applyRequestedSeq;
    this.trimmedSeq = (carried.log.firstSeq - 1) as Seq;
    this.startTailSeq = carried.log.lastSeq;
    this.changeMap = carried.changeMap;
    this.dataFailed = carried.dataFailed;
    ctx.logRoom.restart(this.durableSeq, this.window.range(this.durableSeq, this.lastSeq));
    this.reconfigure(ctx.intent());
    if (this.dataFailed !== null) this.transition('data-failed');
    else ctx.health({ kind: 'recovering', reason: 'incomplete-writes' });
  }

  /** Same epoch, new peers or modes: streams to a new peer start with a hello. */
  reconfigure(intent: Intent): void {
    assert(intent.epoch === this.epoch, 'a new epoch needs a new primary machine');
    const limits = this.ctx.config.limits;
    if (intent.bunker === null) this.bunker = null;
    else if (this.bunker?.peer !== intent.bunker) this.bunker = new PeerSender(intent.bunker, limits);
    if (intent.secondary === null) this.secondary = null;
    else if (this.secondary?.peer !== intent.secondary) this.secondary = new PeerSender(intent.secondary, limits);
  }

  clearChangeMap(): void {
    if (this.changeMap === null) return;
    this.changeMap = null;
    this.ctx.out.changeMapCleared = true;
  }

  // ---- events ---------------------------------------------------------------------------

  onRequest(request: ConsumerRequest): void {
    const refusal = this.refusal() ?? validateRequest(request, this.ctx.config.limits);
    if (refusal !== null) return this.fail(request.id, refusal);
    if (this.pending.length >= this.ctx.config.limits.pendingRequestsMax) return this.fail(request.id, this.backpressure());
    if (request.op === 'flush') {
      this.pending.push({ id: request.id, kind: 'flush', seq: this.lastSeq, fua: true });
      return;
    }
    const entry: Entry = {
      epoch: this.epoch,
      seq: (this.lastSeq + 1) as Seq,
      offset: request.offset,
      length: request.length,
      kind: request.op,
      payload: request.payload,
    };
    this.window.dropThrough(this.evictableSeq());
    if (!this.window.hasRoom(entry)) return this.fail(request.id, this.backpressure());
    const room = this.ctx.logRoom;
    if (!room.fits(entry)) return this.fail(request.id, { kind: 'LogFull', usedBytes: room.usedBytes, logBytesMax: room.capacityBytes });
    this.window.push(entry);
    room.take(entry);
    this.lastSeq = entry.seq;
    this.ctx.out.append.push(entry);
    if (this.changeMap !== null) this.ctx.out.changeMapMarks.push(...this.changeMap.mark(entry));
    this.pending.push({ id: request.id, kind: 'entry', seq: entry.seq, fua: request.fua });
  }

  onLocalDurable(throughSeq: Seq): void {
    assert(throughSeq <= this.lastSeq, `durable ${throughSeq} beyond the last appended ${this.lastSeq}`);
    if (throughSeq > this.durableSeq) this.durableSeq = throughSeq;
  }

  onDataApplied(throughSeq: Seq): void {
    assert(throughSeq <= this.applyRequestedSeq, `applied ${throughSeq} beyond what was handed out ${this.applyRequestedSeq}`);
    if (throughSeq > this.appliedSeq) this.appliedSeq = throughSeq;
  }

  onMessage(from: NodeName, message: PeerMessage): void {
    switch (message.kind) {
      case 'append-ack':
        if (from === this.bunker?.peer && this.isOurs(message)) this.bunker.onAck(message.hello, message.durableSeq, SEQ_NONE);
        return;
      case 'ship-ack':
        if (from === this.secondary?.peer && this.isOurs(message)) {
          this.secondary.onAck(message.hello, message.durableSeq, message.appliedSeq);
        }
        return;
      case 'stale-epoch':
        if (message.epoch > this.epoch) this.fence(message.epoch);
        return;
      case 'append':
      case 'ship':
      case 'fetch-request':
      case 'fetch-block':
        return; // Not for a primary: another replica's epoch check answers older senders.
    }
  }

  onLogRead(readId: number, entries: readonly Entry[]): void {
    this.bunker?.onRead(readId, entries);
    this.secondary?.onRead(readId, entries);
  }

  onLinkDown(peer: NodeName): void {
    if (this.bunker?.peer === peer) this.bunker.reopen();
    if (this.secondary?.peer === peer) this.secondary.reopen();
  }

  onDataFailed(detail: string): void {
    if (this.state === 'fenced' || this.state === 'data-failed') return;
    this.dataFailed = detail;
    this.transition('data-failed');
  }

  onTick(): void {
    this.bunker?.tick();
    this.secondary?.tick();
    const silent = this.silentRequiredPeer();
    if (silent === null) return;
    if (this.state === 'serving') this.transition('stalled');
    else if (this.state === 'recovering' && silent.silentTicks === this.ctx.config.limits.peerTimeoutTicks) {
      this.ctx.health(this.unreachable(silent));
    }
  }

  // ---- ready ----------------------------------------------------------------------------

  flush(): void {
    if (this.state === 'fenced') return;
    this.applyCommitted();
    this.answerPending();
    this.updateState();
    this.sendToPeers();
    this.trim();
  }

  private applyCommitted(): void {
    if (this.state === 'data-failed') return;
    // Entries this incarnation found in its log (<= startTailSeq) are incomplete writes:
    // applied like any other once durable here, whether or not the bunker has them yet.
    const limit = Math.min(this.durableSeq, Math.max(this.commitSeq(), this.startTailSeq)) as Seq;
    if (limit <= this.applyRequestedSeq) return;
    this.ctx.out.apply.push(...this.window.range(this.applyRequestedSeq, limit));
    this.applyRequestedSeq = limit;
  }

  private answerPending(): void {
    if (this.pending.length === 0) return;
    const still: PendingRequest[] = [];
    for (const request of this.pending) {
      if (this.answerable(request)) this.ctx.out.answers.push({ kind: 'ok', id: request.id, seq: request.seq });
      else still.push(request);
    }
    this.pending = still;
  }

  private answerable(request: PendingRequest): boolean {
    const seq = request.seq;
    const secondaryDone = this.secondaryIsWaitedFor() ? (this.secondary?.ackedSeq ?? SEQ_NONE) >= seq : true;
    if (request.kind === 'flush') return this.durableEverywhere(seq) && secondaryDone;
    if (this.appliedSeq < seq || this.commitSeq() < seq) return false;
    return (request.fua ? this.durableEverywhere(seq) : true) && secondaryDone;
  }

  /** FLUSH / FUA: durable in the local log and in the bunker's log copy (if there is one). */
  private durableEverywhere(seq: Seq): boolean {
    if (this.durableSeq < seq) return false;
    // In recovery: none (degraded after losing the bunker) FUA waits for the local log only.
    if (this.bunker === null || !this.bunkerIsWaitedFor()) return true;
    return this.bunker.ackedSeq >= seq;
  }

  private updateState(): void {
    if (this.state === 'recovering' && this.appliedSeq >= this.startTailSeq) {
      // The handshake is required in recovery: sync whatever else is configured: it is what
      // keeps a new incarnation from reusing a sequence the bunker already holds.
      const waitBunker = this.ctx.intent().modes.recovery === 'sync' && this.bunker !== null && !this.bunker.everHandshaked;
      if (!waitBunker) this.transition('serving');
    } else if (this.state === 'stalled' && this.silentRequiredPeer() === null) {
      this.transition('serving');
    }
  }

  private sendToPeers(): void {
    const out = this.ctx.out;
    const bunker = this.bunker;
    if (bunker !== null) {
      const batch = bunker.poll(this.source(this.lastSeq));
      if (batch !== null) {
        out.messages.push({
          to: bunker.peer,
          message: {
            kind: 'append',
            epoch: this.epoch,
            session: this.incarnation,
            hello: batch.hello,
            truncateAfterSeq: batch.hello && !bunker.everHandshaked && this.lastSeq === this.startTailSeq ? this.startTailSeq : null,
            entries: batch.entries,
            trimSeq: this.trimmedSeq,
            primaryAppliedSeq: this.appliedSeq,
          },
        });
      }
    }
    const secondary = this.secondary;
    if (secondary === null) return;
    const commitSeq = this.commitSeq();
    const batch = secondary.poll(this.source(commitSeq));
    if (batch === null) return;
    out.messages.push({
      to: secondary.peer,
      message: { kind: 'ship', epoch: this.epoch, session: this.incarnation, hello: batch.hello, entries: batch.entries, commitSeq },
    });
  }

  private source(eligibleThroughSeq: Seq): SendSource {
    return { window: this.window, eligibleThroughSeq, nextReadId: () => this.ctx.nextReadId(), reads: this.ctx.out.reads };
  }

  /** Trim only what the secondary holds durably, what is applied here and at the bunker. */
  private trim(): void {
    // A failed data volume cannot be made durable (Ready rule 8): keep everything in the log.
    if (this.secondary === null || this.dataFailed !== null) return;
    let point = Math.min(this.secondary.ackedSeq, this.appliedSeq, this.commitSeq());
    if (this.bunker !== null) point = Math.min(point, this.bunker.ackedSeq);
    if (point <= this.trimmedSeq) return;
    this.trimmedSeq = point as Seq;
    this.ctx.out.trimThroughSeq = this.trimmedSeq;
  }

  // ---- state ----------------------------------------------------------------------------

  /** The one place the primary changes state: validate, commit, then run the effects. */
  transition(to: PrimaryState): TransitionRejection<PrimaryState> | null {
    const rejection = checkPrimaryTransition(this.state, to);
    if (rejection !== null) return rejection;
    this.state = to;
    switch (to) {
      case 'serving':
        this.ctx.health({ kind: 'ok' });
        break;
      case 'stalled': {
        const silent = this.silentRequiredPeer();
        assert(silent !== null, 'stalled without a silent peer');
        this.failPending((request) => request.seq > this.commitSeq());
        this.ctx.health(this.unreachable(silent));
        break;
      }
      case 'data-failed':
        this.failPending(() => true);
        this.ctx.health({ kind: 'data-failed', detail: this.dataFailed ?? 'data volume failed' });
        break;
      case 'fenced':
        this.failPending(() => true);
        break;
      case 'recovering':
        break;
    }
    return null;
  }

  /** Replaced by another machine (role change, newer epoch): fail what is still pending. */
  retire(newerEpoch: Epoch): void {
    if (this.state === 'fenced') return;
    this.fencedBy = newerEpoch;
    this.transition('fenced');
  }

  private fence(newerEpoch: Epoch): void {
    if (this.state === 'fenced') return;
    this.signal = { kind: 'fenced', newerEpoch };
    this.fencedBy = newerEpoch;
    this.transition('fenced');
  }

  private refusal(): RequestFailure | null {
    switch (this.state) {
      case 'serving':
        return null;
      case 'recovering':
        return { kind: 'Recovering', reason: this.appliedSeq < this.startTailSeq ? 'incomplete-writes' : 'bunker-handshake' };
      case 'stalled': {
        const silent = this.silentRequiredPeer();
        const silentTicks = silent?.silentTicks ?? 0;
        return silent === this.secondary ? { kind: 'SecondaryUnavailable', silentTicks } : { kind: 'BunkerUnavailable', silentTicks };
      }
      case 'data-failed':
        return { kind: 'DataVolumeFailed', detail: this.dataFailed ?? 'data volume failed' };
      case 'fenced':
        return { kind: 'StaleEpoch', epoch: this.epoch, newerEpoch: this.fencedBy ?? this.epoch };
    }
  }

  private failPending(which: (request: PendingRequest) => boolean): void {
    const refusal = this.refusal();
    assert(refusal !== null, 'failing requests while serving');
    const still: PendingRequest[] = [];
    for (const request of this.pending) {
      if (which(request)) this.ctx.out.answers.push({ kind: 'failed', id: request.id, failure: refusal });
      else still.push(request);
    }
    this.pending = still;
  }

  private fail(id: number, failure: RequestFailure): void {
    this.ctx.out.answers.push({ kind: 'failed', id, failure });
  }

  private backpressure(): RequestFailure {
    return { kind: 'Backpressure', pendingRequests: this.pending.length, windowEntries: this.window.length };
  }

  // ---- derived values -------------------------------------------------------------------

  commitSeq(): Seq {
    if (!this.bunkerIsWaitedFor() || this.bunker === null) return this.durableSeq;
    return Math.min(this.durableSeq, this.bunker.ackedSeq) as Seq;
  }

  private bunkerIsWaitedFor(): boolean {
    return this.ctx.intent().modes.recovery === 'sync' && !this.ctx.config.bugs.ackBeforeBunkerDurable;
  }

  private secondaryIsWaitedFor(): boolean {
    return this.ctx.intent().modes.secondary === 'sync' && this.secondary !== null;
  }

  /** Entries at or below this may leave memory: applied, and durable where they are waited for. */
  private evictableSeq(): Seq {
    let seq: number = this.appliedSeq;
    if (this.bunkerIsWaitedFor() && this.bunker !== null) seq = Math.min(seq, this.bunker.ackedSeq);
    if (this.secondaryIsWaitedFor() && this.secondary !== null) seq = Math.min(seq, this.secondary.ackedSeq);
    return seq as Seq;
  }

  private silentRequiredPeer(): PeerSender | null {
    const timeout = this.ctx.config.limits.peerTimeoutTicks;
    if (this.bunkerIsWaitedFor() && this.bunker !== null && this.bunker.silentTicks >= timeout) return this.bunker;
    if (this.secondaryIsWaitedFor() && this.secondary !== null && this.secondary.silentTicks >= timeout) return this.secondary;
    return null;
  }

  private unreachable(peer: PeerSender): Health {
    const link = peer === this.bunker ? 'bunker' : 'secondary';
    return { kind: 'peer-unreachable', peer: peer.peer, link, silentTicks: peer.silentTicks };
  }

  private isOurs(message: { readonly epoch: Epoch; readonly session: number }): boolean {
    return message.epoch === this.epoch && message.session === this.incarnation;
  }

  writeCredit(): { readonly requests: number; readonly entries: number } {
    if (this.state !== 'serving') return { requests: 0, entries: 0 };
    const limits = this.ctx.config.limits;
    this.window.dropThrough(this.evictableSeq());
    return { requests: limits.pendingRequestsMax - this.pending.length, entries: limits.windowEntriesMax - this.window.length };
  }

  changeMapRegions(): number[] | null {
    return this.changeMap?.regions() ?? null;
  }

  stateName(): string {
    return this.state;
  }

  takeSignal(): RoleSignal | null {
    const signal = this.signal;
    this.signal = null;
    return signal;
  }

  carry(): Carried {
    return {
      log: { firstSeq: (this.trimmedSeq + 1) as Seq, lastSeq: this.lastSeq, durableSeq: this.durableSeq },
      appliedSeq: this.appliedSeq,
      applyRequestedSeq: this.applyRequestedSeq,
      unapplied: this.window.range(this.appliedSeq, this.lastSeq),
      changeMap: this.changeMap,
      dataFailed: this.dataFailed,
    };
  }

  status(): RoleStatus {
    return {
      machine: this.state,
      serving: this.state === 'serving',
      log: { firstSeq: (this.trimmedSeq + 1) as Seq, lastSeq: this.lastSeq, durableSeq: this.durableSeq },
      appliedSeq: this.appliedSeq,
      commitSeq: this.commitSeq(),
      bunkerDurableSeq: this.bunker?.ackedSeq ?? SEQ_NONE,
      secondaryDurableSeq: this.secondary?.ackedSeq ?? SEQ_NONE,
      secondaryAppliedSeq: this.secondary?.appliedSeq ?? SEQ_NONE,
      pendingRequests: this.pending.length,
      changeMapRegions: this.changeMapRegions(),
    };
  }
}
