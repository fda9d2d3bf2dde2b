// Method: a primary (a, bunker b answered by hand) and a secondary (c) wired to each other
// through an in-order, lossless stream, as gRPC carries them, with the secondary's data volume
// held back by the test. The soak run (issue 11) found the shipping stream stuck for good: the
// secondary had dropped entries for lack of room in its apply queue, went on acknowledging the
// primary's heartbeats, and the primary, hearing from it, never resent: it waited with its
// in-flight window full of entries the secondary no longer expected.
import type { Entry } from '../log/entry.js';
import type { Seq } from '@bunker/proto/ids';
import { A, B, C, Harness, appendAck, entry, intent, servingPrimary, ship, shipAck, to } from '../../../test/sim/replica-harness.js';
import type { Ready } from './ready.js';

/** Primary a and secondary c on one stream each way; the bunker's acks and the disks by hand. */
class ShipLink {
  readonly primary = new Harness({ node: A });
  readonly secondary = new Harness({ node: C });
  /** The primary's change log, to answer its reads. */
  private readonly primaryLog: Entry[] = [];
  private secondaryLast = 0;
  /** The secondary's data volume is stopped while this is false. */
  secondaryApplies = true;
  private secondaryApplyPending = 0;

  constructor() {
    this.secondary.configure(intent('secondary', 1, { primary: A }));
    this.fromPrimary(this.primary.configure(intent('primary', 1, { bunker: B, secondary: C })));
  }

  /** Everything a Ready of the primary asks for: its disk, its bunker, its secondary. */
  private fromPrimary(ready: Ready): void {
    const follow: Ready[] = [];
    this.primaryLog.push(...ready.append);
    const last = ready.append.at(-1);
    if (last !== undefined) follow.push(this.primary.durable(last.seq));
    const applied = ready.apply.at(-1);
    if (applied !== undefined) follow.push(this.primary.applied(applied.seq));
    for (const message of to(ready, B)) {
      if (message.kind !== 'append') continue;
      follow.push(this.primary.receive(B, appendAck(1, 1, message.entries.at(-1)?.seq ?? this.primaryLog.length, message.hello)));
    }
    for (const message of to(ready, C)) this.fromSecondary(this.secondary.receive(A, message));
    for (const read of ready.reads) {
      const entries = this.primaryLog.filter((e) => e.seq > read.afterSeq && e.seq <= read.throughSeq).slice(0, read.maxEntries);
      follow.push(this.primary.step({ kind: 'log-read', readId: read.readId, entries }));
    }
    for (const next of follow) this.fromPrimary(next);
  }

  private fromSecondary(ready: Ready): void {
    const follow: Ready[] = [];
    const last = ready.append.at(-1);
    if (last !== undefined) {
      this.secondaryLast = last.seq;
      follow.push(this.secondary.durable(last.seq));
    }
    const applied = ready.apply.at(-1);
    if (applied !== undefined) this.secondaryApplyPending = applied.seq;
    if (this.secondaryApplies && this.secondaryApplyPending > 0) {
      const through = this.secondaryApplyPending;
      this.secondaryApplyPending = 0;
      follow.push(this.secondary.applied(through));
    }
    for (const message of to(ready, A)) this.fromPrimary(this.primary.receive(C, message));
    for (const next of follow) this.fromSecondary(next);
  }

  write(offset: number): void {
    this.fromPrimary(this.primary.write(offset).ready);
  }

  /** The data volume answers again: everything handed out so far is applied. */
  resumeApplies(): void {
    this.secondaryApplies = true;
    if (this.secondaryApplyPending > 0) {
      const through = this.secondaryApplyPending;
      this.secondaryApplyPending = 0;
      this.fromSecondary(this.secondary.applied(through));
    }
  }

  tick(count: number): void {
    for (let i = 0; i < count; i += 1) {
      this.primary.replica.tick();
      this.fromPrimary(this.primary.take());
      this.secondary.replica.tick();
      this.fromSecondary(this.secondary.take());
    }
  }

  get secondaryHolds(): number {
    return this.secondaryLast;
  }

  get primaryCommitted(): Seq {
    return this.primary.replica.status().commitSeq;
  }
}

describe('shipping: a secondary that dropped entries gets them again', () => {
  it('resumes after the secondary ran out of apply-queue room, while heartbeats kept flowing', () => {
    const link = new ShipLink();
    link.tick(1);
    link.secondaryApplies = false; // the secondary's data volume stalls: its apply queue (8) fills
    for (let i = 0; i < 12; i += 1) link.write((i % 8) * 512);
    expect(link.primaryCommitted).toBe(12);
    expect(link.secondaryHolds).toBe(8); // 9..12 were dropped for lack of room
    link.resumeApplies();
    link.tick(40); // many heartbeats, each answered: the secondary is not silent
    expect(link.secondaryHolds).toBe(12);
    expect(link.primary.replica.status().secondaryDurableSeq).toBe(12);
    // And shipping goes on as usual afterwards.
    link.write(0);
    expect(link.secondaryHolds).toBe(13);
  });

  it('asks once per drop: entries still on their way after the drop do not ask again', () => {
    const h = new Harness({ node: C, limits: { applyQueueEntriesMax: 2 } });
    h.configure(intent('secondary', 1, { primary: A }));
    h.receive(A, ship(1, 1, [], 0, true));
    const dropped = h.receive(A, ship(1, 1, [entry(1), entry(2), entry(3)], 3));
    expect(dropped.append.map((e) => e.seq)).toEqual([1, 2]);
    h.durable(2);
    // No room yet (1 and 2 are not applied): no request to resume, only the usual ack.
    expect(to(h.receive(A, ship(1, 1, [entry(4)], 4)), A)).toEqual([shipAck(1, 1, 2, 0)]);
    // Room again: the ack says hello, i.e. "resume right after my durable sequence".
    expect(to(h.applied(2), A)).toEqual([shipAck(1, 1, 2, 2, true)]);
    // More of what was sent before the primary heard it: a gap, and no second request.
    expect(to(h.receive(A, ship(1, 1, [entry(5)], 5)), A)).toEqual([shipAck(1, 1, 2, 2)]);
    // The resend arrives: taken in order.
    const resent = h.receive(A, ship(1, 1, [entry(3), entry(4), entry(5)], 5));
    expect(resent.append.map((e) => e.seq)).toEqual([3, 4]); // room for two
  });

  it('the primary resumes after the acknowledged sequence when the secondary says hello unasked', () => {
    const h = servingPrimary({ secondary: true });
    for (let i = 0; i < 3; i += 1) h.write(i * 512);
    h.durable(3);
    const shipped = h.receive(B, appendAck(1, 1, 3));
    expect(to(shipped, C)).toEqual([expect.objectContaining({ kind: 'ship', entries: [{ seq: 1 }, { seq: 2 }, { seq: 3 }].map((e) => expect.objectContaining(e)) })]);
    expect(to(h.receive(C, shipAck(1, 1, 1, 0)), C)).toEqual([]); // 2 and 3 are in flight
    // Unasked, and a stale durable sequence (0): resume after what was acknowledged (1).
    const resent = h.receive(C, shipAck(1, 1, 0, 0, true));
    expect(to(resent, C)).toEqual([expect.objectContaining({ kind: 'ship', hello: false, entries: [{ seq: 2 }, { seq: 3 }].map((e) => expect.objectContaining(e)) })]);
  });
});

