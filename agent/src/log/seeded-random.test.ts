// The seeded source: same seed, same faults; values in range.
import { randomInt, seededRandom } from './seeded-random.js';

describe('seededRandom', () => {
  it('repeats its sequence for a seed and differs between seeds', () => {
    const take = (seed: number): number[] => {
      const random = seededRandom(seed);
      return Array.from({ length: 5 }, () => random());
    };
    expect(take(42)).toEqual(take(42));
    expect(take(42)).not.toEqual(take(43));
  });

  it('stays in [0, 1) and randomInt in [0, max)', () => {
    const random = seededRandom(7);
    for (let index = 0; index < 10_000; index += 1) {
      const value = random();
      expect(value >= 0 && value < 1).toBe(true);
      const integer = randomInt(random, 10);
      expect(Number.isInteger(integer) && integer >= 0 && integer < 10).toBe(true);
    }
  });
});
