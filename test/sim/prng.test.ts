// Method: the generator must be deterministic per seed, differ across seeds, and spread
// evenly enough for the scheduler's weighted choices.
import { Prng } from './prng.js';

describe('Prng', () => {
  it('replays the same sequence for the same seed', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    expect(Array.from({ length: 20 }, () => a.nextU32())).toEqual(Array.from({ length: 20 }, () => b.nextU32()));
  });

  it('gives different sequences for different seeds', () => {
    expect(new Prng(1).nextU32()).not.toBe(new Prng(2).nextU32());
  });

  it('spreads int(n) evenly', () => {
    const prng = new Prng(7);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40_000; i += 1) {
      const k = prng.int(4);
      counts[k] = (counts[k] ?? 0) + 1;
    }
    for (const count of counts) expect(count).toBeGreaterThan(9_000);
  });

  it('honours weights', () => {
    const prng = new Prng(9);
    let heavy = 0;
    for (let i = 0; i < 10_000; i += 1) if (prng.weighted([['a', 9], ['b', 1]] as const) === 'a') heavy += 1;
    expect(heavy).toBeGreaterThan(8_500);
    expect(heavy).toBeLessThan(9_500);
  });
});
