// Role none: a replica that serves nothing (fenced old primary, released or not yet placed).
// It still finishes what its log owes its data volume: entries appended and not yet applied
// (incomplete writes) are applied once durable, so that a later failback can compute what
// differs from the log alone. Everything else is refused by the replica.
import type { NodeName, Seq } from '@bunker/proto/ids';
import { SEQ_NONE } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { ApplyQueue } from './apply-queue.js';
import type { PeerMessage } from './message.js';
import type { ConsumerRequest } from './request.js';
import type { Carried, RoleContext, RoleMachine, RoleSignal, RoleStatus } from './role-machine.js';

export class Fenced implements RoleMachine {
  readonly role = 'none' as const;
  private readonly queue: ApplyQueue;
  private readonly firstSeq: Seq;

  constructor(
    private readonly ctx: RoleContext,
    carried: Carried,
  ) {
    const limits = ctx.config.limits;
    this.queue = new ApplyQueue(limits.applyQueueEntriesMax, limits.applyQueueBytesMax, carried);
    this.firstSeq = carried.log.firstSeq;
  }

  onRequest(_request: ConsumerRequest): void {}

  onLocalDurable(throughSeq: Seq): void {
    this.queue.onDurable(throughSeq);
  }

  onDataApplied(throughSeq: Seq): void {
    this.queue.onApplied(throughSeq);
  }

  onMessage(_from: NodeName, _message: PeerMessage): void {}

  onLogRead(_readId: number, _entries: readonly Entry[]): void {}

  onLinkDown(_peer: NodeName): void {}

  onDataFailed(detail: string): void {
    if (this.queue.dataFailed !== null) return;
    this.queue.dataFailed = detail;
    this.ctx.health({ kind: 'data-failed', detail });
  }

  onTick(): void {}

  flush(): void {
    this.queue.emit(this.ctx.out);
  }

  changeMapRegions(): number[] | null {
    return null;
  }

  stateName(): string {
    return 'fenced';
  }

  takeSignal(): RoleSignal | null {
    return null;
  }

  quiescent(): boolean {
    return this.queue.quiescent();
  }

  carry(): Carried {
    return {
      log: { firstSeq: this.firstSeq, lastSeq: this.queue.lastSeq, durableSeq: this.queue.durableSeq },
      appliedSeq: this.queue.appliedSeq,
      applyRequestedSeq: this.queue.applyRequestedSeq,
      unapplied: this.queue.unapplied(),
      changeMap: null,
      dataFailed: this.queue.dataFailed,
    };
  }

  status(): RoleStatus {
    return {
      machine: 'fenced',
      serving: false,
      log: { firstSeq: this.firstSeq, lastSeq: this.queue.lastSeq, durableSeq: this.queue.durableSeq },
      appliedSeq: this.queue.appliedSeq,
      commitSeq: SEQ_NONE,
      bunkerDurableSeq: SEQ_NONE,
      secondaryDurableSeq: SEQ_NONE,
      secondaryAppliedSeq: SEQ_NONE,
      pendingRequests: 0,
      changeMapRegions: null,
    };
  }
}
