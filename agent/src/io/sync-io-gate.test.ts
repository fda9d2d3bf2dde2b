import { SyncIoGate, syncIoGateClosings } from './sync-io-gate.js';

/** A clock the test moves: each operation "takes" the time the test says. */
function scriptedClock(): { now: () => number; advance: (ms: number) => void } {
  let at = 0;
  return { now: () => at, advance: (ms) => { at += ms; } };
}

describe('SyncIoGate', () => {
  const options = { kind: 'data-read' as const, slowMs: 0.1, closedMs: 1_000 };

  it('stays open while operations are fast, and passes their results through', () => {
    const clock = scriptedClock();
    const gate = new SyncIoGate({ ...options, now: clock.now });
    for (let i = 0; i < 1_000; i += 1) {
      expect(gate.open).toBe(true);
      expect(gate.run(() => { clock.advance(0.005); return i; })).toBe(i);
    }
    expect(gate.slowOperations).toBe(0);
    expect(gate.closings).toBe(0);
  });

  it('is not closed by an isolated slow operation (a preempted thread), only by a run of them', () => {
    const clock = scriptedClock();
    const gate = new SyncIoGate({ ...options, now: clock.now });
    for (let round = 0; round < 20; round += 1) {
      gate.run(() => clock.advance(5));
      for (let i = 0; i < 100; i += 1) gate.run(() => clock.advance(0.005));
    }
    expect(gate.slowOperations).toBe(20);
    expect(gate.open).toBe(true);
    gate.run(() => clock.advance(5));
    expect(gate.open).toBe(true);
    gate.run(() => clock.advance(5));
    expect(gate.open).toBe(true);
    gate.run(() => clock.advance(5));
    expect(gate.open).toBe(false);
    expect(gate.closings).toBe(1);
  });

  it('stays closed for closedMs after the run that closed it, then lets operations try again', () => {
    const clock = scriptedClock();
    const gate = new SyncIoGate({ ...options, kind: 'log-write', now: clock.now });
    const before = syncIoGateClosings();
    for (let i = 0; i < 3; i += 1) gate.run(() => clock.advance(2));
    expect(gate.open).toBe(false);
    // Counted for the metrics under its kind only.
    expect(syncIoGateClosings()).toEqual({ ...before, 'log-write': before['log-write'] + 1 });
    clock.advance(999);
    expect(gate.open).toBe(false);
    clock.advance(1);
    expect(gate.open).toBe(true);
    // The count restarted when it closed: one more slow operation does not close it again.
    gate.run(() => clock.advance(2));
    expect(gate.open).toBe(true);
  });

  it('times an operation that throws, and rethrows what it threw', () => {
    const clock = scriptedClock();
    const gate = new SyncIoGate({ ...options, now: clock.now });
    for (let i = 0; i < 3; i += 1) {
      expect(() => gate.run(() => { clock.advance(2); throw new Error('EIO'); })).toThrow('EIO');
    }
    expect(gate.slowOperations).toBe(3);
    expect(gate.open).toBe(false);
  });
});
