// Method: scenario scripts against a secondary replica (node c) driven by hand: following the
// primary's shipping stream, then the takeover of DESIGN.md step by step (fence, drain in
// bounded blocks, append, apply including incomplete writes, promote), asserting on each Ready.
import { epoch, seq } from '@bunker/proto/ids';
import { A, B, C, Harness, append, appendAck, entry, fetchBlock, intent, seqs, ship, to } from '../../../test/sim/replica-harness.js';
import { persisted } from './intent.js';
import { checkSecondaryTransition } from './secondary-state.js';

function secondary(options: ConstructorParameters<typeof Harness>[0] = {}): Harness {
  const h = new Harness({ node: C, ...options });
  h.configure(intent('secondary', 1, { primary: A }));
  h.receive(A, ship(1, 1, [], 0, true));
  return h;
}

/** A secondary holding entries 1..2 (applied), then configured primary of epoch 2. */
function takingOver(options: ConstructorParameters<typeof Harness>[0] = {}): Harness {
  const h = secondary(options);
  h.receive(A, ship(1, 1, [entry(1), entry(2)], 2));
  h.durable(2);
  h.applied(2);
  return h;
}

describe('secondary: following the primary', () => {
  it('appends what is shipped, applies it once durable, acknowledges durable and applied', () => {
    const h = secondary();
    let ready = h.receive(A, ship(1, 1, [entry(1), entry(2)], 2));
    expect(seqs(ready.append)).toEqual([1, 2]);
    expect(ready.apply).toEqual([]);
    ready = h.durable(2);
    expect(seqs(ready.apply)).toEqual([1, 2]);
    expect(to(ready, A)).toEqual([{ kind: 'ship-ack', epoch: 1, session: 1, hello: false, durableSeq: 2, appliedSeq: 0 }]);
    ready = h.applied(2);
    expect(to(ready, A)).toEqual([expect.objectContaining({ durableSeq: 2, appliedSeq: 2 })]);
    expect(ready.trimThroughSeq).toBe(2);
  });

  it('takes nothing beyond the primary\'s commit point, nor beyond its apply queue', () => {
    const h = secondary({ limits: { applyQueueEntriesMax: 2 } });
    expect(seqs(h.receive(A, ship(1, 1, [entry(1), entry(2)], 1)).append)).toEqual([1]);
    expect(seqs(h.receive(A, ship(1, 1, [entry(2), entry(3), entry(4)], 4)).append)).toEqual([2]);
  });

  it('follows only its primary in its epoch: others are ignored, older epochs refused', () => {
    const h = secondary();
    expect(h.receive(B, ship(1, 1, [entry(1)], 1)).append).toEqual([]);
    expect(h.receive(A, ship(2, 1, [entry(1)], 1)).append).toEqual([]); // a newer epoch waits for the operator
    h.configure(intent('secondary', 3, { primary: B }));
    expect(to(h.receive(A, ship(2, 1, [entry(1)], 1)), A)).toEqual([{ kind: 'stale-epoch', epoch: 3, refused: 'ship' }]);
  });

  it('drops an older incarnation\'s stream and needs a hello from a new one', () => {
    const h = secondary();
    h.receive(A, ship(1, 2, [], 0, true));
    expect(h.receive(A, ship(1, 1, [entry(1)], 1)).append).toEqual([]);
    expect(h.receive(A, ship(1, 3, [entry(1)], 1)).append).toEqual([]);
    expect(seqs(h.receive(A, ship(1, 2, [entry(1)], 1)).append)).toEqual([1]);
  });

  it('stops applying on a failed data volume and says so', () => {
    const h = secondary();
    h.receive(A, ship(1, 1, [entry(1)], 1));
    expect(h.step({ kind: 'data-volume-failed', detail: 'EIO' }).health).toEqual({ kind: 'data-failed', detail: 'EIO' });
    expect(h.durable(1).apply).toEqual([]);
  });

  it('a restarted secondary applies its incomplete writes and waits for the primary\'s hello', () => {
    const h = new Harness({
      node: C,
      restored: {
        intent: persisted(intent('secondary', 1, { primary: A }), null, null),
        incarnation: 2,
        log: { firstSeq: seq(1), lastSeq: seq(3) },
        appliedSeq: seq(1),
        incomplete: [entry(2), entry(3)],
        changeMapRegions: [],
        dataFailed: null,
      },
    });
    expect(seqs(h.take().apply)).toEqual([2, 3]);
    expect(to(h.applied(3), A)).toEqual([]);
    expect(to(h.receive(A, ship(1, 1, [], 3, true)), A)).toEqual([expect.objectContaining({ hello: true, durableSeq: 3, appliedSeq: 3 })]);
  });
});

describe('secondary: takeover', () => {
  it('fences first: the configure is persisted with the drain start, old ships are refused', () => {
    const h = takingOver();
    const ready = h.configure(intent('primary', 2, { bunker: B }));
    expect(ready.intent).toMatchObject({ role: 'primary', epoch: 2, drain: { startSeq: 2 } });
    expect(to(ready, B)).toEqual([{ kind: 'fetch-request', epoch: 2, afterSeq: 2, maxEntries: 3, maxBytes: 16 * 1024 }]);
    expect(ready.health).toEqual({ kind: 'recovering', reason: 'draining' });
    expect(to(h.receive(A, ship(1, 1, [entry(3)], 3)), A)).toEqual([{ kind: 'stale-epoch', epoch: 2, refused: 'ship' }]);
    const request = h.write(0);
    expect(request.ready.answers).toEqual([{ kind: 'failed', id: request.id, failure: { kind: 'Recovering', reason: 'draining' } }]);
  });

  it('drains in blocks into the staging log, then the change log, applies them, and promotes', () => {
    const h = takingOver();
    h.configure(intent('primary', 2, { bunker: B }));
    let ready = h.receive(B, fetchBlock(2, 2, [entry(3), entry(4), entry(5)], { durable: 6, first: 1, primaryApplied: 3 }));
    expect(seqs(ready.stagingAppend)).toEqual([3, 4, 5]);
    expect(seqs(ready.append)).toEqual([3, 4, 5]);
    expect(ready.changeMapMarks).toEqual([0]);
    expect(to(ready, B)).toEqual([expect.objectContaining({ kind: 'fetch-request', afterSeq: 5 })]);
    expect(ready.takeover).toMatchObject({ kind: 'drain-progress', drainedSeq: 5, bunkerDurableSeq: 6, entriesReplayed: 3, incompleteWritesApplied: 2 });
    ready = h.durable(5);
    expect(seqs(ready.apply)).toEqual([3, 4, 5]); // incomplete writes (4, 5) are applied like any other
    h.applied(5);
    h.receive(B, fetchBlock(2, 5, [entry(6, 1, 8192)], { durable: 6, first: 1, primaryApplied: 3 }));
    h.durable(6);
    h.applied(6);
    ready = h.receive(B, fetchBlock(2, 6, [], { durable: 6, first: 1, primaryApplied: 3 }));
    expect(ready.takeover).toMatchObject({ kind: 'promoted', epoch: 2, divergenceSeq: 2, tailSeq: 6, entriesReplayed: 4, incompleteWritesApplied: 3 });
    expect(ready.intent).toMatchObject({ role: 'primary', epoch: 2, drain: null, divergenceSeq: 2 });
    expect(to(ready, B)).toEqual([expect.objectContaining({ kind: 'append', epoch: 2, hello: true, truncateAfterSeq: 6 })]);
    expect(h.replica.changeMapRegions()).toEqual([0, 2]);
    // It serves once the bunker answered; its writes continue the history and join the change map.
    h.receive(B, appendAck(2, 1, 6, true));
    const write = h.write(40960);
    expect(write.ready.append).toEqual([expect.objectContaining({ seq: 7, epoch: 2 })]);
    expect(write.ready.changeMapMarks).toEqual([10]);
  });

  it('ignores duplicated and stale blocks, and asks again after a timeout or a broken link', () => {
    const h = takingOver();
    h.configure(intent('primary', 2, { bunker: B }));
    expect(h.receive(B, fetchBlock(2, 0, [entry(1)], { durable: 3, first: 1 })).append).toEqual([]);
    expect(to(h.ticks(4).at(-1) ?? h.take(), B)).toEqual([expect.objectContaining({ kind: 'fetch-request', afterSeq: 2 })]);
    expect(to(h.step({ kind: 'link-down', peer: B }), B)).toEqual([expect.objectContaining({ kind: 'fetch-request', afterSeq: 2 })]);
  });

  it('asks for the rest when a block is not complete yet', () => {
    const h = takingOver();
    h.configure(intent('primary', 2, { bunker: B }));
    const ready = h.receive(B, fetchBlock(2, 2, [], { durable: 4, first: 1 }));
    expect(ready.append).toEqual([]);
    expect(to(ready, B)).toEqual([expect.objectContaining({ kind: 'fetch-request', afterSeq: 2 })]);
  });

  it('reports a hole after the bunker\'s trim point instead of skipping entries', () => {
    const h = takingOver();
    h.configure(intent('primary', 2, { bunker: B }));
    const ready = h.receive(B, fetchBlock(2, 2, [], { durable: 9, first: 5 }));
    expect(ready.health).toEqual({ kind: 'drain-failed', reason: 'bunker-gap', bunkerFirstSeq: 5, afterSeq: 2 });
    expect(h.replica.status().machine).toBe('drain-failed');
    // A newer epoch from the operator tries again.
    expect(to(h.configure(intent('primary', 3, { bunker: B })), B)).toEqual([expect.objectContaining({ kind: 'fetch-request', epoch: 3 })]);
  });

  it('a bunker already in a newer epoch fences the takeover itself', () => {
    const h = takingOver();
    h.configure(intent('primary', 2, { bunker: B }));
    const ready = h.receive(B, { kind: 'stale-epoch', epoch: epoch(3), refused: 'fetch-request' });
    expect(ready.intent).toMatchObject({ role: 'none', epoch: 3 });
    const other = takingOver();
    other.configure(intent('primary', 2, { bunker: B }));
    expect(other.receive(B, fetchBlock(3, 2, [], { durable: 2, first: 1 })).intent).toMatchObject({ role: 'none', epoch: 3 });
  });

  it('resumes a drain after a restart from its log tail, with its change map', () => {
    const h = new Harness({
      node: C,
      restored: {
        intent: persisted(intent('primary', 2, { bunker: B }), { startSeq: seq(2) }, null),
        incarnation: 4,
        log: { firstSeq: seq(1), lastSeq: seq(4) },
        appliedSeq: seq(4),
        incomplete: [],
        changeMapRegions: [0],
        dataFailed: null,
      },
    });
    expect(to(h.take(), B)).toEqual([expect.objectContaining({ kind: 'fetch-request', epoch: 2, afterSeq: 4 })]);
    expect(h.receive(B, fetchBlock(2, 4, [], { durable: 4, first: 1 })).takeover).toMatchObject({ kind: 'promoted', divergenceSeq: 2, tailSeq: 4 });
  });

  it('in recovery: none there is nothing to drain: it promotes once its own entries are applied', () => {
    const h = secondary();
    h.receive(A, ship(1, 1, [entry(1)], 1));
    expect(h.configure(intent('primary', 2, {}, { recovery: 'none' })).takeover).toBeNull();
    h.durable(1);
    expect(h.applied(1).takeover).toMatchObject({ kind: 'promoted', tailSeq: 1 });
  });

  it('with the skip bug switched on, does not apply drained incomplete writes (mutation test support)', () => {
    const h = takingOver({ bugs: { skipIncompleteWritesOnTakeover: true } });
    h.configure(intent('primary', 2, { bunker: B }));
    h.receive(B, fetchBlock(2, 2, [entry(3), entry(4)], { durable: 4, first: 1, primaryApplied: 3 }));
    const applied = h.durable(4).apply;
    expect(applied.map((e) => e.kind)).toEqual(['write', 'flush']);
  });
});

describe('secondary: transitions', () => {
  it('allows following -> draining -> promoted, and a failed drain to be retried', () => {
    expect(checkSecondaryTransition('following', 'draining')).toBeNull();
    expect(checkSecondaryTransition('draining', 'promoted')).toBeNull();
    expect(checkSecondaryTransition('draining', 'drain-failed')).toBeNull();
    expect(checkSecondaryTransition('drain-failed', 'draining')).toBeNull();
  });

  it('rejects going back from promoted', () => {
    expect(checkSecondaryTransition('promoted', 'following')).toEqual({ kind: 'InvalidTransition', machine: 'secondary', from: 'promoted', to: 'following' });
  });

  it('a bunker-only message means nothing to a secondary', () => {
    const h = secondary();
    expect(h.receive(A, append(1, 1, [entry(1)], { hello: true })).append).toEqual([]);
  });
});
