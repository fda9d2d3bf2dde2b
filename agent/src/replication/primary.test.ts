// Method: scenario scripts against a primary replica driven by hand (test/sim/replica-harness):
// each test is a sentence of DESIGN.md's write path, epochs and fencing, stepped event by
// event, asserting on the Ready each event produced.
import { epoch, seq } from '@bunker/proto/ids';
import {
  A,
  B,
  C,
  Harness,
  appendAck,
  entry,
  intent,
  servingPrimary,
  seqs,
  shipAck,
  to,
} from '../../../test/sim/replica-harness.js';
import { persisted } from './intent.js';
import { checkPrimaryTransition } from './primary-state.js';

describe('primary: the write path', () => {
  it('sends a write to the bunker in the same Ready that appends it locally', () => {
    const h = servingPrimary();
    const { ready } = h.write(0);
    expect(seqs(ready.append)).toEqual([1]);
    expect(to(ready, B)).toEqual([expect.objectContaining({ kind: 'append', hello: false, entries: [expect.objectContaining({ seq: 1 })] })]);
  });

  it('applies and acknowledges only when both the local log and the bunker are durable', () => {
    const h = servingPrimary();
    const { id } = h.write(0);
    let ready = h.durable(1);
    expect(ready.apply).toEqual([]);
    ready = h.receive(B, appendAck(1, 1, 1));
    expect(seqs(ready.apply)).toEqual([1]);
    expect(ready.answers).toEqual([]); // not before it is applied
    ready = h.applied(1);
    expect(ready.answers).toEqual([{ kind: 'ok', id, seq: 1 }]);
  });

  it('waits for the local log when the bunker is durable first', () => {
    const h = servingPrimary();
    h.write(0);
    expect(h.receive(B, appendAck(1, 1, 1)).apply).toEqual([]);
    expect(seqs(h.durable(1).apply)).toEqual([1]);
  });

  it('acknowledges a FLUSH when everything before it is durable in both logs, applied or not', () => {
    const h = servingPrimary();
    h.write(0);
    h.write(512);
    const { id } = h.request('flush');
    h.durable(2);
    expect(h.receive(B, appendAck(1, 1, 1)).answers).toEqual([]);
    expect(h.receive(B, appendAck(1, 1, 2)).answers).toEqual([{ kind: 'ok', id, seq: 2 }]);
  });

  it('batches: several writes between two Readys travel in one message per peer', () => {
    const h = servingPrimary({ secondary: true });
    for (let i = 0; i < 3; i += 1) {
      h.replica.step({ kind: 'consumer-request', request: { id: 100 + i, op: 'write', offset: i * 512, length: 512, payload: new Uint8Array(512), fua: false } });
    }
    const ready = h.take();
    expect(ready.append).toHaveLength(3);
    expect(to(ready, B)).toHaveLength(1);
    expect(to(ready, B)[0]).toMatchObject({ kind: 'append', entries: [{ seq: 1 }, { seq: 2 }, { seq: 3 }] });
  });

  it('in recovery: none acknowledges once the local log is durable', () => {
    const h = new Harness();
    h.configure(intent('primary', 1, {}, { recovery: 'none' }));
    const { id } = h.write(0);
    expect(seqs(h.durable(1).apply)).toEqual([1]);
    expect(h.applied(1).answers).toEqual([{ kind: 'ok', id, seq: 1 }]);
  });

  // recovery: none is also what a primary runs degraded after losing its bunker
  // (onBunkerLoss: degrade): a FUA write there must not wait for the absent bunker, or a file
  // system's journal commits would stop the volume the policy means to keep serving.
  it('in recovery: none answers a FUA write once it is durable locally, without waiting for a configured bunker', () => {
    const h = new Harness();
    h.configure(intent('primary', 1, { bunker: B }, { recovery: 'none' }));
    const { id } = h.write(0, 1, true);
    h.durable(1);
    expect(h.applied(1).answers).toEqual([{ kind: 'ok', id, seq: 1 }]);
  });

  it('in secondary: sync acknowledges only once the secondary holds the write durably', () => {
    const h = servingPrimary({ secondary: true, modes: { secondary: 'sync' } });
    const { id } = h.write(0);
    h.durable(1);
    h.receive(B, appendAck(1, 1, 1));
    expect(h.applied(1).answers).toEqual([]);
    expect(h.receive(C, shipAck(1, 1, 1, 0)).answers).toEqual([{ kind: 'ok', id, seq: 1 }]);
  });

  it('rejects a misaligned request with a typed InvalidRequest', () => {
    const h = servingPrimary();
    const { id, ready } = h.write(100);
    expect(ready.answers).toEqual([{ kind: 'failed', id, failure: expect.objectContaining({ kind: 'InvalidRequest' }) }]);
  });

  it('pushes back when the window is full instead of queueing without bound', () => {
    const h = servingPrimary({ limits: { windowEntriesMax: 2 } });
    h.write(0);
    h.write(512);
    expect(h.replica.writeCredit().entries).toBe(0);
    const { id, ready } = h.write(1024);
    expect(ready.answers).toEqual([{ kind: 'failed', id, failure: expect.objectContaining({ kind: 'Backpressure' }) }]);
    h.durable(2);
    h.receive(B, appendAck(1, 1, 2));
    h.applied(2);
    expect(h.replica.writeCredit().entries).toBe(2);
    expect(h.write(1024).ready.append).toHaveLength(1);
  });

  it('limits pending requests too', () => {
    const h = servingPrimary({ limits: { pendingRequestsMax: 1 } });
    h.write(0);
    const { id, ready } = h.write(512);
    expect(ready.answers).toEqual([{ kind: 'failed', id, failure: expect.objectContaining({ kind: 'Backpressure', pendingRequests: 1 }) }]);
  });
});

describe('primary: a full change log', () => {
  // Harness records: 512-byte payloads and the log's record header.
  const RECORD = 512 + 64;

  it('refuses a write that does not fit before giving it a sequence, and takes it once room is reported', () => {
    const h = servingPrimary({ limits: { logBytesMax: 3 * RECORD } });
    for (const offset of [0, 512, 1024]) expect(h.write(offset).ready.append).toHaveLength(1);
    const { id, ready } = h.write(1536);
    expect(ready.append).toEqual([]);
    expect(to(ready, B)).toEqual([]);
    expect(ready.answers).toEqual([{ kind: 'failed', id, failure: { kind: 'LogFull', usedBytes: 3 * RECORD, logBytesMax: 3 * RECORD } }]);
    // The log made all three durable, then a trim left one record: the next write gets sequence 4.
    h.durable(3);
    h.step({ kind: 'log-usage', usedBytes: 3 * RECORD, durableSeq: seq(3) });
    expect(h.write(1536).ready.answers).toEqual([expect.objectContaining({ kind: 'failed', failure: expect.objectContaining({ kind: 'LogFull' }) })]);
    h.step({ kind: 'log-usage', usedBytes: RECORD, durableSeq: seq(3) });
    expect(seqs(h.write(1536).ready.append)).toEqual([4]);
  });

  it('still answers flushes and what was admitted while full', () => {
    const h = servingPrimary({ limits: { logBytesMax: RECORD } });
    const first = h.write(0);
    expect(seqs(first.ready.append)).toEqual([1]);
    h.write(512);
    const flush = h.request('flush');
    const answers = [h.durable(1), h.receive(B, appendAck(1, 1, 1)), h.applied(1)].flatMap((ready) => ready.answers);
    expect(answers).toEqual(expect.arrayContaining([{ kind: 'ok', id: first.id, seq: 1 }, { kind: 'ok', id: flush.id, seq: 1 }]));
  });
});

describe('primary: the secondary link', () => {
  it('ships only committed entries and trims only below what the secondary holds durably', () => {
    const h = servingPrimary({ secondary: true });
    h.write(0);
    h.write(512);
    h.durable(2);
    let ready = h.receive(B, appendAck(1, 1, 1));
    expect(to(ready, C)).toEqual([expect.objectContaining({ kind: 'ship', entries: [expect.objectContaining({ seq: 1 })], commitSeq: 1 })]);
    h.applied(1);
    ready = h.receive(C, shipAck(1, 1, 1, 1));
    expect(ready.trimThroughSeq).toBe(1);
    h.ticks(2); // a heartbeat carries the trim point to the bunker
    const [heartbeat] = h.ticks(2).flatMap((r) => to(r, B));
    expect(heartbeat).toMatchObject({ kind: 'append', trimSeq: 1 });
  });

  it('reads entries back from the log when the secondary is behind what memory holds', () => {
    const h = servingPrimary({ secondary: true, limits: { windowEntriesMax: 2 } });
    h.step({ kind: 'link-down', peer: C });
    for (let i = 0; i < 3; i += 1) {
      h.write(i * 512);
      h.durable(i + 1);
      h.receive(B, appendAck(1, 1, i + 1));
      h.applied(i + 1);
    }
    const ready = h.receive(C, shipAck(1, 1, 0, 0, true));
    expect(ready.reads).toEqual([expect.objectContaining({ afterSeq: 0 })]);
    const read = ready.reads[0];
    if (read === undefined) throw new Error('no read');
    const shipped = h.step({ kind: 'log-read', readId: read.readId, entries: [entry(1)] });
    expect(to(shipped, C)).toEqual([expect.objectContaining({ kind: 'ship', entries: [expect.objectContaining({ seq: 1 })] })]);
  });
});

describe('primary: reconnect, stall, fence', () => {
  it('resends from the last acknowledged sequence after a broken stream', () => {
    const h = servingPrimary();
    h.write(0);
    h.write(512);
    h.receive(B, appendAck(1, 1, 1));
    const hello = h.step({ kind: 'link-down', peer: B });
    expect(to(hello, B)).toEqual([expect.objectContaining({ kind: 'append', hello: true, entries: [], truncateAfterSeq: null })]);
    const resend = h.receive(B, appendAck(1, 1, 1, true));
    expect(to(resend, B)).toEqual([expect.objectContaining({ kind: 'append', entries: [expect.objectContaining({ seq: 2 })] })]);
  });

  it('stops acknowledging after the bunker is silent for peerTimeoutTicks, and says so', () => {
    const h = servingPrimary();
    const { id } = h.write(0);
    const readies = h.ticks(8);
    const failed = readies.flatMap((r) => r.answers);
    expect(failed).toEqual([{ kind: 'failed', id, failure: expect.objectContaining({ kind: 'BunkerUnavailable' }) }]);
    expect(readies.map((r) => r.health).filter((x) => x !== null)).toEqual([expect.objectContaining({ kind: 'peer-unreachable', link: 'bunker', peer: B })]);
    const refused = h.write(512);
    expect(refused.ready.answers).toEqual([{ kind: 'failed', id: refused.id, failure: expect.objectContaining({ kind: 'BunkerUnavailable' }) }]);
    expect(h.receive(B, appendAck(1, 1, 0)).health).toEqual({ kind: 'ok' });
  });

  it('a stall spares a request already committed: it is still acknowledged once applied', () => {
    const h = servingPrimary();
    const { id } = h.write(0);
    h.durable(1);
    h.receive(B, appendAck(1, 1, 1));
    expect(h.ticks(8).flatMap((r) => r.answers)).toEqual([]);
    expect(h.applied(1).answers).toEqual([{ kind: 'ok', id, seq: 1 }]);
  });

  it('in secondary: sync stalls on a silent secondary', () => {
    const h = servingPrimary({ secondary: true, modes: { secondary: 'sync' } });
    const { id } = h.write(0);
    const answers = Array.from({ length: 8 }, () => {
      h.receive(B, appendAck(1, 1, 0)); // the bunker keeps answering
      return h.ticks(1).flatMap((r) => r.answers);
    }).flat();
    expect(answers).toEqual([{ kind: 'failed', id, failure: expect.objectContaining({ kind: 'SecondaryUnavailable' }) }]);
  });

  it('a peer answering with a newer epoch fences it: pending requests fail StaleEpoch, role none is persisted', () => {
    const h = servingPrimary();
    const { id } = h.write(0);
    const ready = h.receive(B, { kind: 'stale-epoch', epoch: epoch(2), refused: 'append' });
    expect(ready.answers).toEqual([{ kind: 'failed', id, failure: { kind: 'StaleEpoch', epoch: 1, newerEpoch: 2 } }]);
    expect(ready.intent).toMatchObject({ role: 'none', epoch: 2 });
    expect(ready.health).toEqual({ kind: 'fenced', newerEpoch: 2 });
    const after = h.write(512);
    expect(after.ready.answers).toEqual([{ kind: 'failed', id: after.id, failure: { kind: 'NotPrimary', role: 'none' } }]);
  });

  it('ignores acknowledgements of another epoch or incarnation', () => {
    const h = servingPrimary();
    h.write(0);
    h.durable(1);
    expect(h.receive(B, appendAck(1, 7, 1)).apply).toEqual([]);
    expect(h.receive(B, appendAck(0, 1, 1)).apply).toEqual([]);
    expect(h.receive(C, appendAck(1, 1, 1)).apply).toEqual([]);
  });

  it('a failed data volume fails what is pending and applies and trims nothing more', () => {
    const h = servingPrimary({ secondary: true });
    const { id } = h.write(0);
    h.durable(1);
    const ready = h.step({ kind: 'data-volume-failed', detail: 'EIO' });
    expect(ready.answers).toEqual([{ kind: 'failed', id, failure: { kind: 'DataVolumeFailed', detail: 'EIO' } }]);
    expect(ready.health).toEqual({ kind: 'data-failed', detail: 'EIO' });
    expect(h.receive(B, appendAck(1, 1, 1)).apply).toEqual([]);
    expect(h.receive(C, shipAck(1, 1, 1, 1)).trimThroughSeq).toBeNull();
  });
});

describe('primary: restart', () => {
  const restored = {
    intent: persisted(intent('primary', 1, { bunker: B }), null, null),
    incarnation: 2,
    log: { firstSeq: seq(1), lastSeq: seq(3) },
    appliedSeq: seq(1),
    incomplete: [entry(2), entry(3)],
    changeMapRegions: [],
    dataFailed: null,
  };

  it('applies its incomplete writes and opens a new session that truncates the bunker above its tail', () => {
    const h = new Harness({ restored });
    const ready = h.take();
    expect(seqs(ready.apply)).toEqual([2, 3]);
    expect(to(ready, B)).toEqual([expect.objectContaining({ kind: 'append', session: 2, hello: true, truncateAfterSeq: 3 })]);
  });

  it('assigns no sequence before the bunker answered this incarnation, then continues after its tail', () => {
    const h = new Harness({ restored });
    h.take();
    const early = h.write(0);
    expect(early.ready.answers).toEqual([{ kind: 'failed', id: early.id, failure: { kind: 'Recovering', reason: 'incomplete-writes' } }]);
    h.applied(3);
    const still = h.write(0);
    expect(still.ready.answers).toEqual([{ kind: 'failed', id: still.id, failure: { kind: 'Recovering', reason: 'bunker-handshake' } }]);
    h.receive(B, appendAck(1, 2, 3, true));
    expect(seqs(h.write(0).ready.append)).toEqual([4]);
  });

  it('reports a silent bunker while recovering', () => {
    const h = new Harness({ restored });
    h.take();
    const health = h.ticks(8).map((r) => r.health).filter((x) => x !== null);
    expect(health).toEqual([expect.objectContaining({ kind: 'peer-unreachable', link: 'bunker' })]);
  });

  it('a primary restored with a failed data volume stays failed', () => {
    const h = new Harness({ restored: { ...restored, dataFailed: 'EIO' } });
    expect(h.take().health).toEqual({ kind: 'data-failed', detail: 'EIO' });
    expect(h.write(0).ready.answers[0]).toMatchObject({ kind: 'failed', failure: { kind: 'DataVolumeFailed' } });
  });
});

describe('primary: transitions', () => {
  it.each([
    ['recovering', 'serving'],
    ['serving', 'stalled'],
    ['stalled', 'serving'],
    ['serving', 'data-failed'],
    ['data-failed', 'fenced'],
  ] as const)('allows %s -> %s', (from, to2) => {
    expect(checkPrimaryTransition(from, to2)).toBeNull();
  });

  it.each([
    ['fenced', 'serving'],
    ['data-failed', 'serving'],
    ['serving', 'recovering'],
  ] as const)('rejects %s -> %s with a typed rejection', (from, to2) => {
    expect(checkPrimaryTransition(from, to2)).toEqual({ kind: 'InvalidTransition', machine: 'primary', from, to: to2 });
  });

  it('node names used by the scenarios are distinct', () => {
    expect(new Set([A, B, C]).size).toBe(3);
  });
});
