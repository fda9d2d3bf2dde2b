// Method: scenario scripts against a bunker replica (node b) driven by hand: the primary's
// appends, the drain's fetches and the operator's configures arrive as events; each test
// asserts on the Ready they produce.
import { epoch, seq } from '@bunker/proto/ids';
import { A, B, C, Harness, append, entry, intent, seqs, to } from '../../../test/sim/replica-harness.js';
import { checkBunkerTransition } from './bunker-state.js';
import { persisted } from './intent.js';

function bunker(options: ConstructorParameters<typeof Harness>[0] = {}): Harness {
  const h = new Harness({ node: B, ...options });
  h.configure(intent('bunker', 1, { primary: A }));
  return h;
}

function following(options: ConstructorParameters<typeof Harness>[0] = {}): Harness {
  const h = bunker(options);
  h.receive(A, append(1, 1, [], { hello: true }));
  return h;
}

describe('bunker: the log copy', () => {
  it('answers a hello with where its log stands', () => {
    const h = bunker();
    const ready = h.receive(A, append(1, 1, [], { hello: true }));
    expect(to(ready, A)).toEqual([{ kind: 'append-ack', epoch: 1, session: 1, hello: true, durableSeq: 0 }]);
  });

  it('a new bunker started after a sequence answers the hello from there and takes the entries that follow', () => {
    const h = new Harness({ node: B });
    const started = h.configure(intent('bunker', 1, { primary: A }), { resetLogToSeq: seq(40) });
    expect(started.logCut).toEqual({ kind: 'reset', baseSeq: 40 });
    expect(to(h.receive(A, append(1, 1, [], { hello: true })), A)).toEqual([expect.objectContaining({ kind: 'append-ack', hello: true, durableSeq: 40 })]);
    expect(seqs(h.receive(A, append(1, 1, [entry(41), entry(42)])).append)).toEqual([41, 42]);
    expect(to(h.durable(42), A)).toEqual([expect.objectContaining({ kind: 'append-ack', durableSeq: 42 })]);
  });

  it('appends contiguous entries and acknowledges them once durable, not before (one answer per batch)', () => {
    const h = following();
    const ready = h.receive(A, append(1, 1, [entry(1), entry(2)]));
    expect(seqs(ready.append)).toEqual([1, 2]);
    expect(to(ready, A)).toEqual([]);
    expect(to(h.durable(2), A)).toEqual([expect.objectContaining({ kind: 'append-ack', durableSeq: 2 })]);
  });

  it('answers a heartbeat or a resend at once, even while a batch is not yet durable', () => {
    const h = following();
    h.receive(A, append(1, 1, [entry(1), entry(2)]));
    expect(to(h.receive(A, append(1, 1, [])), A)).toEqual([expect.objectContaining({ kind: 'append-ack', durableSeq: 0 })]);
    expect(to(h.receive(A, append(1, 1, [entry(1), entry(2)])), A)).toEqual([expect.objectContaining({ kind: 'append-ack', durableSeq: 0 })]);
  });

  it('skips entries it already has and stops at a gap', () => {
    const h = following();
    h.receive(A, append(1, 1, [entry(1), entry(2)]));
    expect(seqs(h.receive(A, append(1, 1, [entry(2), entry(3)])).append)).toEqual([3]);
    expect(h.receive(A, append(1, 1, [entry(5)])).append).toEqual([]);
  });

  it('drops batches of a session that did not say hello, and of an older incarnation', () => {
    const h = following();
    expect(h.receive(A, append(1, 2, [entry(1)])).append).toEqual([]);
    h.receive(A, append(1, 2, [], { hello: true }));
    expect(h.receive(A, append(1, 1, [entry(1)])).append).toEqual([]);
    expect(seqs(h.receive(A, append(1, 2, [entry(1)])).append)).toEqual([1]);
  });

  it('trims only through what the primary says the secondary holds, and only what is durable', () => {
    const h = following();
    h.receive(A, append(1, 1, [entry(1), entry(2), entry(3)]));
    h.durable(2);
    expect(h.receive(A, append(1, 1, [], { trimSeq: 3 })).trimThroughSeq).toBe(2);
    expect(h.receive(A, append(1, 1, [], { trimSeq: 1 })).trimThroughSeq).toBeNull();
  });

  it('with the trim bug switched on, trims everything durable (mutation test support)', () => {
    const h = following({ bugs: { bunkerTrimsBelowSecondary: true } });
    h.receive(A, append(1, 1, [entry(1), entry(2)]));
    expect(h.durable(2).trimThroughSeq).toBe(2);
  });
});

describe('bunker: a primary restart', () => {
  it('drops what the previous incarnation sent above the new one\'s tail before following it', () => {
    const h = following();
    h.receive(A, append(1, 1, [entry(1), entry(2), entry(3)]));
    h.durable(3);
    const ready = h.receive(A, append(1, 2, [], { hello: true, truncateAfterSeq: 1 }));
    expect(ready.logCut).toEqual({ kind: 'truncate', afterSeq: 1 });
    expect(to(ready, A)).toEqual([expect.objectContaining({ session: 2, hello: true, durableSeq: 1 })]);
  });

  it('answers that hello only once no append is in flight', () => {
    const h = following();
    h.receive(A, append(1, 1, [entry(1), entry(2)]));
    expect(to(h.receive(A, append(1, 2, [], { hello: true, truncateAfterSeq: 1 })), A)).toEqual([]);
    h.durable(2);
    expect(h.receive(A, append(1, 2, [], { hello: true, truncateAfterSeq: 1 })).logCut).toEqual({ kind: 'truncate', afterSeq: 1 });
  });

  it('never truncates below what it trimmed', () => {
    const h = following();
    h.receive(A, append(1, 1, [entry(1), entry(2), entry(3)], { trimSeq: 2 }));
    h.durable(3);
    h.receive(A, append(1, 1, [], { trimSeq: 2 }));
    expect(h.receive(A, append(1, 2, [], { hello: true, truncateAfterSeq: 1 })).logCut).toEqual({ kind: 'truncate', afterSeq: 2 });
  });
});

describe('bunker: epochs and the takeover drain', () => {
  it('refuses appends of an older epoch with stale-epoch, once per peer per Ready', () => {
    const h = bunker();
    h.configure(intent('bunker', 2, { primary: C }));
    h.replica.step({ kind: 'message', from: A, message: append(1, 1, [entry(1)], { hello: true }) });
    h.replica.step({ kind: 'message', from: A, message: append(1, 1, [entry(2)]) });
    const ready = h.take();
    expect(ready.append).toEqual([]);
    expect(to(ready, A)).toEqual([{ kind: 'stale-epoch', epoch: 2, refused: 'append' }]);
  });

  it('with the stale-epoch bug switched on, accepts them (mutation test support)', () => {
    const h = bunker({ bugs: { acceptStaleEpochAppend: true } });
    h.configure(intent('bunker', 2, { primary: C }));
    h.receive(A, append(1, 1, [], { hello: true }));
    expect(seqs(h.receive(A, append(1, 1, [entry(1)])).append)).toEqual([1]);
  });

  it('a fetch with a newer epoch fences it: the new epoch is persisted in the Ready that answers', () => {
    const h = following();
    h.receive(A, append(1, 1, [entry(1), entry(2)], { primaryAppliedSeq: 1 }));
    h.durable(2);
    const ready = h.receive(C, { kind: 'fetch-request', epoch: epoch(2), afterSeq: seq(0), maxEntries: 10, maxBytes: 1 << 20 });
    expect(ready.intent).toMatchObject({ role: 'bunker', epoch: 2, primary: null });
    expect(ready.reads).toEqual([expect.objectContaining({ afterSeq: 0, throughSeq: 2, maxEntries: 3 })]);
    const read = ready.reads[0];
    if (read === undefined) throw new Error('no read');
    const answer = h.step({ kind: 'log-read', readId: read.readId, entries: [entry(1), entry(2)] });
    expect(to(answer, C)).toEqual([
      expect.objectContaining({ kind: 'fetch-block', epoch: 2, afterSeq: 0, bunkerDurableSeq: 2, bunkerFirstSeq: 1, primaryAppliedSeq: 1 }),
    ]);
    // From now on the old primary is refused, and nothing of its epoch is acknowledged.
    expect(to(h.receive(A, append(1, 1, [entry(3)])), A)).toEqual([{ kind: 'stale-epoch', epoch: 2, refused: 'append' }]);
  });

  it('after the fence, appends still in flight become durable but are acknowledged to no one', () => {
    const h = following();
    h.receive(A, append(1, 1, [entry(1)]));
    h.receive(C, { kind: 'fetch-request', epoch: epoch(2), afterSeq: seq(0), maxEntries: 10, maxBytes: 1 << 20 });
    expect(h.durable(1).messages).toEqual([]);
  });

  it('answers a fetch beyond its log at once, and reports a hole after its trim point', () => {
    const h = following();
    h.receive(A, append(1, 1, [entry(1), entry(2), entry(3)], { trimSeq: 2 }));
    h.durable(3);
    h.receive(A, append(1, 1, [], { trimSeq: 2 }));
    const done = h.receive(C, { kind: 'fetch-request', epoch: epoch(2), afterSeq: seq(3), maxEntries: 10, maxBytes: 1 << 20 });
    expect(to(done, C)).toEqual([expect.objectContaining({ kind: 'fetch-block', entries: [], bunkerDurableSeq: 3 })]);
    const hole = h.receive(C, { kind: 'fetch-request', epoch: epoch(2), afterSeq: seq(0), maxEntries: 10, maxBytes: 1 << 20 });
    expect(to(hole, C)).toEqual([expect.objectContaining({ kind: 'fetch-block', entries: [], bunkerFirstSeq: 3 })]);
  });

  it('follows the new primary\'s session, dropping late entries of the old epoch above its tail', () => {
    const h = following();
    h.receive(A, append(1, 1, [entry(1), entry(2)]));
    h.receive(C, { kind: 'fetch-request', epoch: epoch(2), afterSeq: seq(0), maxEntries: 10, maxBytes: 1 << 20 });
    h.durable(2); // entry 2 became durable after the fence: never acknowledged, not drained
    const ready = h.receive(C, append(2, 1, [], { hello: true, truncateAfterSeq: 1 }));
    expect(ready.logCut).toEqual({ kind: 'truncate', afterSeq: 1 });
    expect(ready.intent).toMatchObject({ epoch: 2, primary: C });
    expect(seqs(h.receive(C, append(2, 1, [entry(2, 2)])).append)).toEqual([2]);
  });

  it('restarts with its log copy and waits for a hello', () => {
    const h = new Harness({
      node: B,
      restored: {
        intent: persisted(intent('bunker', 1, { primary: A }), null, null),
        incarnation: 3,
        log: { firstSeq: seq(1), lastSeq: seq(4) },
        appliedSeq: seq(0),
        incomplete: [],
        changeMapRegions: [],
        dataFailed: null,
      },
    });
    h.take();
    expect(to(h.receive(A, append(1, 5, [], { hello: true })), A)).toEqual([expect.objectContaining({ durableSeq: 4, session: 5 })]);
    expect(h.replica.status().machine).toBe('following');
  });

  it('ignores what is not for a bunker', () => {
    const h = following();
    expect(h.receive(A, { kind: 'ship', epoch: epoch(1), session: 1, hello: true, entries: [], commitSeq: seq(0) }).messages).toEqual([]);
    expect(h.step({ kind: 'data-volume-failed', detail: 'none' }).health).toBeNull();
    expect(h.step({ kind: 'link-down', peer: A }).messages).toEqual([]);
    const request = h.write(0);
    expect(request.ready.answers).toEqual([{ kind: 'failed', id: request.id, failure: { kind: 'NotPrimary', role: 'bunker' } }]);
  });
});

describe('bunker: transitions', () => {
  it('allows idle -> following -> following -> idle', () => {
    expect(checkBunkerTransition('idle', 'following')).toBeNull();
    expect(checkBunkerTransition('following', 'following')).toBeNull();
    expect(checkBunkerTransition('following', 'idle')).toBeNull();
    expect(checkBunkerTransition('idle', 'idle')).toBeNull();
  });
});
