// Method: scenario scripts for what the replica does itself rather than its role machines:
// the Ready/advance contract, configure answers and persistence, the epoch check on every
// request, role changes carrying state across (fence, failback reset, epoch bump).
import { epoch, seq } from '@bunker/proto/ids';
import { A, B, C, Harness, appendAck, entry, intent, servingPrimary, seqs, ship, to } from '../../../test/sim/replica-harness.js';
import { AssertionError } from './assert.js';

describe('replica: the driver contract', () => {
  it('hands out one Ready at a time and insists on advance', () => {
    const h = new Harness();
    const ready = h.replica.ready();
    expect(() => h.replica.ready()).toThrow(AssertionError);
    expect(() => h.replica.advance({ ...ready })).toThrow(AssertionError);
    h.replica.advance(ready);
    expect(h.replica.hasReady()).toBe(false);
  });

  it('persists an accepted configure and answers it in the same Ready', () => {
    const h = new Harness();
    const ready = h.configure(intent('bunker', 1, { primary: A }));
    expect(ready.intent).toMatchObject({ role: 'bunker', epoch: 1, primary: A, drain: null, divergenceSeq: null });
    expect(ready.configureAnswers).toEqual([{ kind: 'accepted', configureId: 1, intent: ready.intent }]);
    expect(h.replica.status()).toMatchObject({ role: 'bunker', epoch: 1, node: A });
  });

  it('answers a refused configure without changing anything', () => {
    const h = new Harness();
    h.configure(intent('bunker', 2, { primary: A }));
    const ready = h.configure(intent('bunker', 1, { primary: A }));
    expect(ready.intent).toBeNull();
    expect(ready.configureAnswers).toEqual([{ kind: 'rejected', configureId: 2, rejection: { kind: 'StaleEpoch', epoch: 2, requested: 1 } }]);
  });

  it('refuses a request of an older epoch whatever the role, so the sender learns the new epoch', () => {
    const h = new Harness({ node: B });
    h.configure(intent('none', 4));
    expect(to(h.receive(A, { kind: 'fetch-request', epoch: epoch(3), afterSeq: seq(0), maxEntries: 1, maxBytes: 1 }), A)).toEqual([
      { kind: 'stale-epoch', epoch: 4, refused: 'fetch-request' },
    ]);
    expect(h.receive(A, appendAck(3, 1, 1)).messages).toEqual([]); // answers are not requests
  });
});

describe('replica: role changes carry the log across', () => {
  it('a primary told to stand down (none) fails its pending requests and keeps applying its log', () => {
    const h = servingPrimary();
    const { id } = h.write(0);
    const ready = h.configure(intent('none', 2));
    expect(ready.answers).toEqual([{ kind: 'failed', id, failure: { kind: 'StaleEpoch', epoch: 1, newerEpoch: 2 } }]);
    expect(seqs(h.durable(1).apply)).toEqual([1]); // an incomplete write is applied even when fenced
    expect(h.applied(1).messages).toEqual([]);
    expect(h.replica.status()).toMatchObject({ role: 'none', machine: 'fenced', appliedSeq: 1, quiescent: true });
  });

  it('a failback resets the old primary\'s log to the resynchronized sequence and follows from there', () => {
    const h = servingPrimary();
    h.write(0);
    h.configure(intent('none', 2));
    expect(h.configure(intent('secondary', 2, { primary: C }), { resetLogToSeq: seq(7) }).configureAnswers[0]).toMatchObject({
      kind: 'rejected',
      rejection: { kind: 'Busy' },
    });
    h.durable(1);
    h.applied(1);
    const ready = h.configure(intent('secondary', 2, { primary: C }), { resetLogToSeq: seq(7) });
    expect(ready.logCut).toEqual({ kind: 'reset', baseSeq: 7 });
    expect(h.replica.status()).toMatchObject({ role: 'secondary', log: { firstSeq: 8, lastSeq: 7, durableSeq: 7 }, appliedSeq: 7 });
    expect(seqs(h.receive(C, ship(2, 1, [entry(7, 2), entry(8, 2)], 8, true)).append)).toEqual([8]);
  });

  it('a primary configured in a newer epoch starts a new session that truncates the bunker above its tail', () => {
    const h = servingPrimary();
    h.write(0);
    h.durable(1);
    const ready = h.configure(intent('primary', 2, { bunker: B }));
    expect(ready.answers).toEqual([expect.objectContaining({ kind: 'failed' })]);
    expect(to(ready, B)).toEqual([expect.objectContaining({ kind: 'append', epoch: 2, hello: true, truncateAfterSeq: 1 })]);
  });

  it('a primary update adds a secondary and clears the change map when the failback is verified', () => {
    const h = servingPrimary();
    const ready = h.configure(intent('primary', 1, { bunker: B, secondary: C }), { clearChangeMap: true });
    expect(to(ready, C)).toEqual([expect.objectContaining({ kind: 'ship', hello: true })]);
    expect(ready.intent).toMatchObject({ secondary: C, divergenceSeq: null });
  });

  it('a bunker named again after writes were made is never asked to truncate', () => {
    const h = servingPrimary();
    h.write(0);
    h.configure(intent('primary', 1, { bunker: C }));
    const ready = h.configure(intent('primary', 1, { bunker: B }));
    expect(to(ready, B)).toEqual([expect.objectContaining({ kind: 'append', hello: true, truncateAfterSeq: null })]);
  });

  it('a secondary follows another primary after an update naming it', () => {
    const h = new Harness({ node: C });
    h.configure(intent('secondary', 1, { primary: A }));
    h.receive(A, ship(1, 1, [], 0, true));
    h.configure(intent('secondary', 1, { primary: B }));
    expect(h.receive(B, ship(1, 1, [entry(1)], 1)).append).toEqual([]); // needs a hello from B first
    expect(seqs(h.receive(B, ship(1, 4, [entry(1)], 1, true)).append)).toEqual([1]);
  });

  it('a new epoch for a bunker or an idle replica is persisted', () => {
    const bunker = new Harness({ node: B });
    bunker.configure(intent('bunker', 1, { primary: A }));
    expect(bunker.configure(intent('bunker', 2, { primary: C })).intent).toMatchObject({ epoch: 2, primary: C });
    const idle = new Harness();
    expect(idle.configure(intent('none', 5)).intent).toMatchObject({ role: 'none', epoch: 5 });
    const follower = new Harness({ node: C });
    follower.configure(intent('secondary', 1, { primary: A }));
    expect(follower.configure(intent('secondary', 2, { primary: B })).intent).toMatchObject({ role: 'secondary', epoch: 2, primary: B });
  });

  it('a bunker told to stand down has nothing to apply, and becomes a bunker again later', () => {
    const h = new Harness({ node: B });
    h.configure(intent('bunker', 1, { primary: A }));
    h.receive(A, { kind: 'append', epoch: epoch(1), session: 1, hello: true, truncateAfterSeq: null, entries: [entry(1)], trimSeq: seq(0), primaryAppliedSeq: seq(0) });
    h.durable(1);
    const ready = h.configure(intent('none', 2));
    expect(ready.apply).toEqual([]);
    expect(h.replica.status()).toMatchObject({ role: 'none', log: { lastSeq: 1 }, quiescent: true });
    expect(h.configure(intent('bunker', 3, { primary: C })).configureAnswers[0]).toMatchObject({ kind: 'accepted' });
    expect(h.replica.machineState()).toBe('idle');
  });

  it('a fenced replica whose data volume fails stops applying and says so', () => {
    const h = servingPrimary();
    h.write(0);
    h.configure(intent('none', 2));
    expect(h.step({ kind: 'data-volume-failed', detail: 'EIO' }).health).toEqual({ kind: 'data-failed', detail: 'EIO' });
    expect(h.step({ kind: 'data-volume-failed', detail: 'EIO again' }).health).toBeNull();
    expect(h.durable(1).apply).toEqual([]);
    expect(h.replica.status().changeMapRegions).toBeNull();
  });

  it('reports write credit only while serving', () => {
    expect(new Harness().replica.writeCredit()).toEqual({ requests: 0, entries: 0 });
    expect(servingPrimary().replica.writeCredit()).toEqual({ requests: 8, entries: 8 });
    expect(new Harness().replica.machineState()).toBe('fenced');
  });
});
