// The secondary: follows the primary's shipping stream, and on a takeover drains the bunker
// and promotes itself. Everything it appends is applied in log order once durable locally.
//
// Takeover (configure role primary with a newer epoch, persisted before anything is sent):
//  fence   - its epoch is now the new one: the old primary's ships are refused with
//            stale-epoch, and the first fetch fences the bunker too;
//  drain   - bounded fetch blocks from its own log tail; each block is written to the staging
//            log, then the change log, then applied, entries above the old primary's applied
//            mark (incomplete writes) like any other: applying twice is harmless;
//  promote - once the bunker has nothing more and everything is applied, signal the replica,
//            which starts a primary machine in the new epoch with a change map that already
//            holds every region the drain touched (the old primary may lack those too).
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import { SEQ_NONE } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { ApplyQueue } from './apply-queue.js';
import { assert } from './assert.js';
import { ChangeMap } from './change-map.js';
import { ENTRY_HEADER_BYTES } from './config.js';
import { Drain } from './drain.js';
import { persisted, type DrainRecord } from './intent.js';
import type { FetchBlockMessage, PeerMessage, ShipMessage } from './message.js';
import type { ConsumerRequest } from './request.js';
import type { Carried, RoleContext, RoleMachine, RoleSignal, RoleStatus } from './role-machine.js';
import { checkSecondaryTransition, type SecondaryState } from './secondary-state.js';
import type { TransitionRejection } from './transition-check.js';

export class Secondary implements RoleMachine {
  readonly role = 'secondary' as const;
  private state: SecondaryState = 'following';
  private readonly queue: ApplyQueue;
  private trimmedSeq: Seq;
  /** The primary incarnation whose stream we follow (in memory: streams do not survive a restart). */
  private session: number | null = null;
  private ackDue: { hello: boolean } | null = null;
  private drain: Drain | null = null;
  private changeMap: ChangeMap | null;
  private signal: RoleSignal | null = null;
  /**
   * Shipped entries were dropped (no room in the apply queue, or a gap after such a drop):
   * `wanted` until there is room to ask the primary to resume right after our durable
   * sequence, then `asked` until its resend arrives. The primary does not resend by itself
   * while we keep answering, so without this the stream would stay stuck.
   */
  private resume: 'none' | 'wanted' | 'asked' = 'none';

  constructor(
    private readonly ctx: RoleContext,
    carried: Carried,
  ) {
    const limits = ctx.config.limits;
    this.queue = new ApplyQueue(limits.applyQueueEntriesMax, limits.applyQueueBytesMax, carried);
    this.trimmedSeq = (carried.log.firstSeq - 1) as Seq;
    this.changeMap = carried.changeMap;
    const drain = ctx.intent().drain;
    if (drain !== null) this.beginDrain(drain);
    else ctx.health(carried.dataFailed === null ? { kind: 'ok' } : { kind: 'data-failed', detail: carried.dataFailed });
  }

  /** Configured primary in a newer epoch: record the drain's start durably, then drain. */
  startTakeover(): void {
    const intent = this.ctx.intent();
    const record: DrainRecord = { startSeq: this.queue.lastSeq };
    this.ctx.persist(persisted(intent, record, null));
    this.beginDrain(record);
  }

  /** Same role, newer epoch (or another primary): follow the stream that says hello next. */
  followNewEpoch(): void {
    this.session = null;
    this.ackDue = null;
    this.resume = 'none';
  }

  /** Reconfigured in a newer epoch after the drain failed: try again from where the log is. */
  resumeDrain(): void {
    const record = this.ctx.intent().drain;
    assert(record !== null, 'resuming a drain that was never recorded');
    if (this.state === 'drain-failed') this.beginDrain(record);
  }

  private beginDrain(record: DrainRecord): void {
    const limits = this.ctx.config.limits;
    this.drain = new Drain(record.startSeq, this.queue.lastSeq, limits);
    // Without a bunker (recovery: none) there is nothing to drain: promote once applied.
    if (this.ctx.intent().bunker === null) this.drain.complete = true;
    this.changeMap ??= new ChangeMap(limits.regionBytes, limits.volumeBytes);
    this.transition('draining');
  }

  onRequest(_request: ConsumerRequest): void {
    // The replica answers consumer requests for roles that do not serve them.
  }

  onLocalDurable(throughSeq: Seq): void {
    this.queue.onDurable(throughSeq);
    if (this.state === 'following' && this.session !== null) this.ackDue = { hello: this.ackDue?.hello ?? false };
  }

  onDataApplied(throughSeq: Seq): void {
    this.queue.onApplied(throughSeq);
    if (this.state === 'following' && this.session !== null) this.ackDue = { hello: this.ackDue?.hello ?? false };
  }

  onMessage(from: NodeName, message: PeerMessage): void {
    switch (message.kind) {
      case 'ship':
        return this.onShip(from, message);
      case 'fetch-block':
        return this.onFetchBlock(from, message);
      case 'stale-epoch':
        // Our drain's fetch met a bunker in a newer epoch: another takeover superseded ours.
        if (this.state === 'draining' && message.epoch > this.epoch) this.signal = { kind: 'fenced', newerEpoch: message.epoch };
        return;
      case 'append':
      case 'append-ack':
      case 'ship-ack':
      case 'fetch-request':
        return;
    }
  }

  private get epoch(): Epoch {
    return this.ctx.intent().epoch;
  }

  private onShip(from: NodeName, message: ShipMessage): void {
    const intent = this.ctx.intent();
    // A newer epoch waits for the operator: only it may tell a secondary whom to follow.
    if (this.state !== 'following' || from !== intent.primary || message.epoch !== intent.epoch) return;
    if (this.session !== null && message.session < this.session) return; // an older incarnation's stream
    if (message.hello) this.session = message.session;
    else if (message.session !== this.session) return; // must hello first
    // A hello is answered with where to resume anyway; a batch that starts at or before our
    // next sequence is the resend we asked for (what was already on its way has a gap).
    const first = message.entries[0];
    if (message.hello || (this.resume === 'asked' && first !== undefined && first.seq <= this.queue.lastSeq + 1)) this.resume = 'none';
    for (const entry of message.entries) {
      if (entry.seq <= this.queue.lastSeq) continue; // a resend
      if (entry.seq !== this.queue.lastSeq + 1 || entry.seq > message.commitSeq || !this.queue.hasRoom(entry)) {
        if (this.resume === 'none') this.resume = 'wanted';
        break;
      }
      this.queue.append(entry, this.ctx.out);
    }
    this.ackDue = { hello: message.hello || (this.ackDue?.hello ?? false) };
  }

  private onFetchBlock(from: NodeName, message: FetchBlockMessage): void {
    const drain = this.drain;
    if (this.state !== 'draining' || drain === null || from !== this.ctx.intent().bunker) return;
    if (message.epoch > this.epoch) {
      this.signal = { kind: 'fenced', newerEpoch: message.epoch };
      return;
    }
    const limits = this.ctx.config.limits;
    let entries = 0;
    let bytes = 0;
    const room = (entry: Entry): boolean => {
      entries += 1;
      bytes += entry.payload.length + ENTRY_HEADER_BYTES;
      return this.queue.hasRoomFor(entries, bytes, limits.applyQueueEntriesMax, limits.applyQueueBytesMax);
    };
    const outcome = drain.onBlock(message, room);
    switch (outcome.kind) {
      case 'ignored':
      case 'complete':
        break;
      case 'gap':
        this.transition('drain-failed');
        this.ctx.health({ kind: 'drain-failed', reason: 'bunker-gap', bunkerFirstSeq: outcome.bunkerFirstSeq, afterSeq: outcome.afterSeq });
        return;
      case 'entries':
        this.takeDrained(outcome.entries, outcome.oldPrimaryAppliedSeq);
        break;
    }
    this.ctx.out.takeover = { kind: 'drain-progress', drainedSeq: drain.cursorSeq, bunkerDurableSeq: drain.bunkerDurableSeq, ...drain.counters() };
  }

  /** Staging log first, then the change log (Ready rule 2); every region joins the change map. */
  private takeDrained(entries: readonly Entry[], oldPrimaryAppliedSeq: Seq): void {
    const out = this.ctx.out;
    const skipIncomplete = this.ctx.config.bugs.skipIncompleteWritesOnTakeover;
    for (const entry of entries) {
      out.stagingAppend.push(entry);
      const image: Entry = skipIncomplete && entry.seq > oldPrimaryAppliedSeq ? { ...entry, kind: 'flush', offset: 0, length: 0, payload: new Uint8Array(0) } : entry;
      this.queue.append(entry, out, image);
      if (this.changeMap !== null) out.changeMapMarks.push(...this.changeMap.mark(entry));
    }
  }

  onLogRead(_readId: number, _entries: readonly Entry[]): void {
    // A secondary reads nothing back from its log.
  }

  onLinkDown(peer: NodeName): void {
    if (this.drain !== null && peer === this.ctx.intent().bunker) this.drain.retry();
  }

  onDataFailed(detail: string): void {
    if (this.queue.dataFailed !== null) return;
    this.queue.dataFailed = detail;
    this.ctx.health({ kind: 'data-failed', detail });
  }

  onTick(): void {
    this.drain?.tick();
  }

  flush(): void {
    this.queue.emit(this.ctx.out);
    this.acknowledge();
    if (this.queue.appliedSeq > this.trimmedSeq && this.queue.dataFailed === null) {
      // Applied entries are on the data volume; the driver syncs it before trimming (rule 8).
      this.trimmedSeq = this.queue.appliedSeq;
      this.ctx.out.trimThroughSeq = this.trimmedSeq;
    }
    if (this.state === 'draining') this.driveDrain();
  }

  private acknowledge(): void {
    const primary = this.ctx.intent().primary;
    if (this.resume === 'wanted' && this.session !== null && this.state === 'following' && this.hasRoomToResume()) {
      // An unasked hello-ack: "resume right after my durable sequence" (peer-sender.ts).
      this.resume = 'asked';
      this.ackDue = { hello: true };
    }
    if (this.ackDue === null || this.session === null || primary === null || this.state !== 'following') return;
    this.ctx.out.messages.push({
      to: primary,
      message: {
        kind: 'ship-ack',
        epoch: this.epoch,
        session: this.session,
        hello: this.ackDue.hello,
        durableSeq: this.queue.durableSeq,
        appliedSeq: this.queue.appliedSeq,
      },
    });
    this.ackDue = null;
  }

  /** Room for half the apply queue: a resend of the primary's in-flight window mostly fits. */
  private hasRoomToResume(): boolean {
    const limits = this.ctx.config.limits;
    const entries = Math.ceil(limits.applyQueueEntriesMax / 2);
    const bytes = Math.floor(limits.applyQueueBytesMax / 2);
    return this.queue.hasRoomFor(entries, bytes, limits.applyQueueEntriesMax, limits.applyQueueBytesMax);
  }

  private driveDrain(): void {
    const drain = this.drain;
    assert(drain !== null, 'draining without a drain');
    if (drain.complete) {
      if (this.queue.quiescent() && this.queue.dataFailed === null) this.promote(drain);
      return;
    }
    const bunker = this.ctx.intent().bunker;
    assert(bunker !== null, 'a drain without a bunker is complete at once');
    const limits = this.ctx.config.limits;
    const room = this.queue.hasRoomFor(limits.fetchEntriesMax, limits.fetchBytesMax, limits.applyQueueEntriesMax, limits.applyQueueBytesMax);
    const request = drain.nextRequest(this.epoch, room || this.queue.length === 0);
    if (request !== null) this.ctx.out.messages.push({ to: bunker, message: request });
  }

  private promote(drain: Drain): void {
    this.transition('promoted');
    this.signal = { kind: 'promoted', epoch: this.epoch, divergenceSeq: drain.startSeq, tailSeq: this.queue.lastSeq, ...drain.counters() };
  }

  /** The one place the secondary changes state. */
  transition(to: SecondaryState): TransitionRejection<SecondaryState> | null {
    const rejection = checkSecondaryTransition(this.state, to);
    if (rejection !== null) return rejection;
    this.state = to;
    if (to === 'draining') this.ctx.health({ kind: 'recovering', reason: 'draining' });
    return null;
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

  isDraining(): boolean {
    return this.state === 'draining' || this.state === 'drain-failed';
  }

  quiescent(): boolean {
    return this.queue.quiescent();
  }

  carry(): Carried {
    return {
      log: { firstSeq: (this.trimmedSeq + 1) as Seq, lastSeq: this.queue.lastSeq, durableSeq: this.queue.durableSeq },
      appliedSeq: this.queue.appliedSeq,
      applyRequestedSeq: this.queue.applyRequestedSeq,
      unapplied: this.queue.unapplied(),
      changeMap: this.changeMap,
      dataFailed: this.queue.dataFailed,
    };
  }

  status(): RoleStatus {
    return {
      machine: this.state,
      serving: false,
      log: { firstSeq: (this.trimmedSeq + 1) as Seq, lastSeq: this.queue.lastSeq, durableSeq: this.queue.durableSeq },
      appliedSeq: this.queue.appliedSeq,
      commitSeq: SEQ_NONE,
      bunkerDurableSeq: this.drain?.bunkerDurableSeq ?? SEQ_NONE,
      secondaryDurableSeq: SEQ_NONE,
      secondaryAppliedSeq: SEQ_NONE,
      pendingRequests: 0,
      changeMapRegions: this.changeMapRegions(),
    };
  }
}
