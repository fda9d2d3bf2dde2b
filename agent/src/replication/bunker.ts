// The bunker: a durable copy of the primary's change log and nothing else. It appends the
// primary's batches, acknowledges what is durable, trims only what the primary says the
// secondary holds durably, and serves a takeover's drain in bounded blocks.
//
// Fencing: a fetch or an append carrying a newer epoch moves the bunker to that epoch before
// it answers (the intent is persisted first, Ready rule 1), and from then on it acknowledges
// nothing of the old epoch: older senders get stale-epoch (the replica answers that before
// this machine sees the message). So every sequence it ever acknowledged to the old primary
// is below the durable sequence a later fetch reports, and the drain gets all of them.
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import { SEQ_NONE } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { checkBunkerTransition, type BunkerState } from './bunker-state.js';
import { persisted } from './intent.js';
import type { AppendMessage, FetchRequestMessage, PeerMessage } from './message.js';
import type { ConsumerRequest } from './request.js';
import type { Carried, RoleContext, RoleMachine, RoleSignal, RoleStatus } from './role-machine.js';
import type { TransitionRejection } from './transition-check.js';

interface Session {
  readonly owner: NodeName;
  readonly epoch: Epoch;
  readonly id: number;
}

interface ServingFetch {
  readonly from: NodeName;
  readonly readId: number;
  readonly afterSeq: Seq;
}

export class Bunker implements RoleMachine {
  readonly role = 'bunker' as const;
  private state: BunkerState = 'idle';
  private session: Session | null = null;
  private lastSeq: Seq;
  private durableSeq: Seq;
  private trimmedSeq: Seq;
  private primaryAppliedSeq: Seq = SEQ_NONE;
  private ackDue: { hello: boolean } | null = null;
  /** One fetch is served at a time; a newer request replaces an unanswered one. */
  private fetch: ServingFetch | null = null;

  constructor(
    private readonly ctx: RoleContext,
    carried: Carried,
  ) {
    this.lastSeq = carried.log.lastSeq;
    this.durableSeq = carried.log.durableSeq;
    this.trimmedSeq = (carried.log.firstSeq - 1) as Seq;
    ctx.health({ kind: 'ok' });
  }

  private get epoch(): Epoch {
    return this.ctx.intent().epoch;
  }

  /** A newer epoch from the operator, a drain or the new primary: forget the old session. */
  adoptEpoch(epoch: Epoch, primary: NodeName | null): void {
    const intent = this.ctx.intent();
    if (epoch > intent.epoch) {
      this.ctx.persist(persisted({ ...intent, epoch, primary: primary ?? null }, null, null));
    } else if (primary !== null && intent.primary !== primary) {
      this.ctx.persist(persisted({ ...intent, primary }, null, null));
    }
    if (this.session !== null && this.session.epoch < this.epoch) {
      this.session = null;
      this.ackDue = null;
      this.transition('idle');
    }
  }

  onRequest(_request: ConsumerRequest): void {
    // The replica answers consumer requests for roles that do not serve them.
  }

  onLocalDurable(throughSeq: Seq): void {
    if (throughSeq <= this.durableSeq) return;
    this.durableSeq = Math.min(throughSeq, this.lastSeq) as Seq;
    if (this.ctx.config.bugs.bunkerTrimsBelowSecondary) this.trimThrough(this.durableSeq);
    if (this.session !== null) this.ackDue = { hello: this.ackDue?.hello ?? false };
  }

  onDataApplied(_throughSeq: Seq): void {
    // No data volume.
  }

  onMessage(from: NodeName, message: PeerMessage): void {
    switch (message.kind) {
      case 'append':
        return this.onAppend(from, message);
      case 'fetch-request':
        return this.onFetchRequest(from, message);
      case 'append-ack':
      case 'ship':
      case 'ship-ack':
      case 'fetch-block':
      case 'stale-epoch':
        return;
    }
  }

  private onAppend(from: NodeName, message: AppendMessage): void {
    // A newer epoch's primary fences the old one; within our epoch, its hello names the primary.
    if (message.epoch > this.epoch || (message.hello && message.epoch === this.epoch)) this.adoptEpoch(message.epoch, from);
    if (message.hello ? !this.openSession(from, message) : !this.inSession(from, message)) return;
    const lastBefore = this.lastSeq;
    for (const entry of message.entries) {
      if (entry.seq <= this.lastSeq) continue; // a resend: already appended
      if (entry.seq !== this.lastSeq + 1) break; // a gap: the primary resends from our ack
      this.ctx.out.append.push(entry);
      this.lastSeq = entry.seq;
    }
    if (message.primaryAppliedSeq > this.primaryAppliedSeq) this.primaryAppliedSeq = message.primaryAppliedSeq;
    if (!this.ctx.config.bugs.bunkerTrimsBelowSecondary) this.trimThrough(message.trimSeq);
    // A batch that brought new entries is answered when they are durable (onLocalDurable): an
    // answer now would only repeat the old durable sequence, one more message each way per
    // write. Anything else (a hello, a heartbeat, a resend, a gap) is answered at once, so a
    // slow disk never silences the link.
    if (message.hello || this.lastSeq === lastBefore) this.ackDue = { hello: message.hello || (this.ackDue?.hello ?? false) };
  }

  /** A hello opens a session if it is newer than the current one, truncating first if asked. */
  private openSession(from: NodeName, message: AppendMessage): boolean {
    const current = this.session;
    if (current !== null && current.owner === from && current.epoch === message.epoch && current.id === message.session) return true;
    const newer =
      current === null ||
      message.epoch > current.epoch ||
      (message.epoch === current.epoch && message.session > current.id) ||
      (this.ctx.config.bugs.acceptStaleEpochAppend && current.owner !== from);
    if (!newer) return false;
    const truncateAfter = message.truncateAfterSeq;
    if (truncateAfter !== null && this.lastSeq > truncateAfter) {
      // Appends still in flight would land after the cut: answer this hello on a later try.
      if (this.lastSeq > this.durableSeq) return false;
      const afterSeq = Math.max(truncateAfter, this.trimmedSeq) as Seq;
      this.ctx.out.cut({ kind: 'truncate', afterSeq });
      this.lastSeq = afterSeq;
      this.durableSeq = afterSeq;
    }
    this.session = { owner: from, epoch: message.epoch, id: message.session };
    this.transition('following');
    return true;
  }

  private inSession(from: NodeName, message: AppendMessage): boolean {
    const current = this.session;
    return current !== null && current.owner === from && current.epoch === message.epoch && current.id === message.session;
  }

  private onFetchRequest(from: NodeName, message: FetchRequestMessage): void {
    if (message.epoch > this.epoch) this.adoptEpoch(message.epoch, null);
    const gap = message.afterSeq + 1 <= this.trimmedSeq && this.durableSeq > message.afterSeq;
    if (gap || message.afterSeq >= this.durableSeq) {
      this.fetch = null;
      this.sendBlock(from, message.afterSeq, []);
      return;
    }
    const readId = this.ctx.nextReadId();
    this.fetch = { from, readId, afterSeq: message.afterSeq };
    this.ctx.out.reads.push({
      readId,
      afterSeq: message.afterSeq,
      throughSeq: this.durableSeq,
      maxEntries: Math.min(message.maxEntries, this.ctx.config.limits.fetchEntriesMax),
      maxBytes: Math.min(message.maxBytes, this.ctx.config.limits.fetchBytesMax),
    });
  }

  onLogRead(readId: number, entries: readonly Entry[]): void {
    const fetch = this.fetch;
    if (fetch === null || fetch.readId !== readId) return;
    this.fetch = null;
    this.sendBlock(fetch.from, fetch.afterSeq, entries);
  }

  private sendBlock(to: NodeName, afterSeq: Seq, entries: readonly Entry[]): void {
    this.ctx.out.messages.push({
      to,
      message: {
        kind: 'fetch-block',
        epoch: this.epoch,
        afterSeq,
        entries,
        bunkerDurableSeq: this.durableSeq,
        bunkerFirstSeq: (this.trimmedSeq + 1) as Seq,
        primaryAppliedSeq: this.primaryAppliedSeq,
      },
    });
  }

  onLinkDown(_peer: NodeName): void {
    // The primary reopens its stream with a hello; nothing to undo here.
  }

  onDataFailed(_detail: string): void {
    // No data volume.
  }

  onTick(): void {
    // Time-outs live with the senders; the bunker only answers.
  }

  flush(): void {
    const session = this.session;
    if (this.ackDue === null || session === null) return;
    this.ctx.out.messages.push({
      to: session.owner,
      message: { kind: 'append-ack', epoch: session.epoch, session: session.id, hello: this.ackDue.hello, durableSeq: this.durableSeq },
    });
    this.ackDue = null;
  }

  private trimThrough(seq: Seq): void {
    const target = Math.min(seq, this.durableSeq) as Seq;
    if (target <= this.trimmedSeq) return;
    this.trimmedSeq = target;
    this.ctx.out.trimThroughSeq = target;
  }

  /** The one place the bunker changes state. */
  transition(to: BunkerState): TransitionRejection<BunkerState> | null {
    const rejection = checkBunkerTransition(this.state, to);
    if (rejection !== null) return rejection;
    this.state = to;
    return null;
  }

  changeMapRegions(): number[] | null {
    return null;
  }

  stateName(): string {
    return this.state;
  }

  takeSignal(): RoleSignal | null {
    return null;
  }

  carry(): Carried {
    return {
      log: { firstSeq: (this.trimmedSeq + 1) as Seq, lastSeq: this.lastSeq, durableSeq: this.durableSeq },
      // A bunker has no data volume: nothing of its log is waiting to be applied.
      appliedSeq: this.lastSeq,
      applyRequestedSeq: this.lastSeq,
      unapplied: [],
      changeMap: null,
      dataFailed: null,
    };
  }

  status(): RoleStatus {
    return {
      machine: this.state,
      serving: false,
      log: { firstSeq: (this.trimmedSeq + 1) as Seq, lastSeq: this.lastSeq, durableSeq: this.durableSeq },
      appliedSeq: SEQ_NONE,
      commitSeq: SEQ_NONE,
      bunkerDurableSeq: this.durableSeq,
      secondaryDurableSeq: SEQ_NONE,
      secondaryAppliedSeq: SEQ_NONE,
      pendingRequests: 0,
      changeMapRegions: null,
    };
  }
}
