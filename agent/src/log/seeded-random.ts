// A seeded pseudo-random source, so every fault a fake injects (where a write tears, which
// unsynced sectors survive a crash) is reproducible from the seed printed by a failing test.
// Library code never calls Math.random: it takes a Random.

/** Returns a float in [0, 1). */
export type Random = () => number;

/** mulberry32: tiny, fast, and good enough to pick fault points (not for cryptography). */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, maxExclusive). */
export function randomInt(random: Random, maxExclusive: number): number {
  return Math.floor(random() * maxExclusive);
}
