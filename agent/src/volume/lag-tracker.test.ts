// Lag in entries, bytes and seconds, read off per-batch samples with an injected clock.
import { LagTracker } from './lag-tracker.js';

describe('LagTracker', () => {
  it('reports nothing for a peer that holds everything', () => {
    const tracker = new LagTracker(() => 0);
    tracker.recordDurable(10, 40_960);
    expect(tracker.lagOf(10, 10)).toEqual({ entries: 0, bytes: 0, seconds: 0 });
  });

  it('measures a lagging peer from the first batch it lacks', () => {
    let now = 1_000;
    const tracker = new LagTracker(() => now);
    tracker.recordDurable(10, 10 * 4096);
    now = 2_000;
    tracker.recordDurable(20, 10 * 4096);
    now = 3_000;
    tracker.recordDurable(30, 10 * 4096);
    now = 4_500;
    expect(tracker.lagOf(30, 10)).toEqual({ entries: 20, bytes: 20 * 4096, seconds: 2.5 });
    expect(tracker.lagOf(30, 25)).toEqual({ entries: 5, bytes: 10 * 4096, seconds: 1.5 });
  });
});
