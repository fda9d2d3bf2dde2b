// The change map: marks at its granularity, merged regions, durable flushes that survive a
// crash and a torn write, and typed refusals of damaged or foreign maps.
import fc from 'fast-check';
import { ChangeMap } from './change-map.js';
import { MemoryStorage } from './memory-storage.js';
import { seededRandom } from './seeded-random.js';
import { OTHER_VOLUME_UID, TEST_VOLUME_UID } from './testing/log-fixtures.js';

const MIB = 1024 * 1024;
const create = async (storage: MemoryStorage, volumeBytes = 100 * MIB, granularityBytes = MIB): Promise<ChangeMap> =>
  ChangeMap.create(storage, { volumeUid: TEST_VOLUME_UID, volumeBytes, granularityBytes });

describe('ChangeMap', () => {
  it('marks granules and reports merged regions clipped to the volume', async () => {
    const map = await create(new MemoryStorage(seededRandom(1)), 10 * MIB + 5, MIB);
    expect(map.mark(0, 1)).toBe(true);
    expect(map.mark(10, 100)).toBe(false);
    map.mark(MIB - 1, 2);
    map.mark(5 * MIB, 0);
    map.mark(10 * MIB, 5);
    expect([...map.regions()]).toEqual([{ offset: 0, length: 2 * MIB }, { offset: 10 * MIB, length: 5 }]);
    expect(() => map.mark(10 * MIB, 6)).toThrow(RangeError);
  });

  it('clears a resynchronized region and everything', async () => {
    const map = await create(new MemoryStorage(seededRandom(1)));
    map.mark(0, 4 * MIB);
    map.clearRegion(MIB, 2 * MIB);
    expect([...map.regions()]).toEqual([{ offset: 0, length: MIB }, { offset: 3 * MIB, length: MIB }]);
    expect(() => map.clearRegion(10, MIB)).toThrow(RangeError);
    map.clear();
    expect([...map.regions()]).toEqual([]);
  });

  it('keeps flushed marks across a crash and loses only unflushed ones', async () => {
    const storage = new MemoryStorage(seededRandom(1));
    const map = await create(storage);
    map.mark(3 * MIB, 10);
    await map.flush();
    map.mark(50 * MIB, 10);
    expect(map.dirty).toBe(true);
    const reopened = await ChangeMap.open(storage.crash('dropUnsynced'), { volumeUid: TEST_VOLUME_UID });
    expect([...reopened.regions()]).toEqual([{ offset: 3 * MIB, length: MIB }]);
    expect([reopened.volumeBytes, reopened.granularityBytes]).toEqual([100 * MIB, MIB]);
  });

  it('shares one write among concurrent flushes and skips clean ones', async () => {
    const storage = new MemoryStorage(seededRandom(1));
    const map = await create(storage);
    const before = storage.opsCount;
    map.mark(0, 1);
    await Promise.all([map.flush(), map.flush(), map.flush()]);
    await map.flush();
    expect(storage.opsCount - before).toBe(2);
  });

  it('falls back to the previous copy when a flush is torn at any point', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 10_000 }), fc.constantFrom('tornPrefix' as const, 'anySectors' as const), async (seed, mode) => {
        const storage = new MemoryStorage(seededRandom(seed));
        const map = await create(storage);
        map.mark(7 * MIB, 1);
        await map.flush();
        map.mark(9 * MIB, 1);
        void map.flush().catch(() => undefined);
        await new Promise((resolve) => setImmediate(resolve));
        const reopened = await ChangeMap.open(storage.crash(mode), { volumeUid: TEST_VOLUME_UID });
        const regions = [...reopened.regions()];
        expect([[{ offset: 7 * MIB, length: MIB }], [{ offset: 7 * MIB, length: MIB }, { offset: 9 * MIB, length: MIB }]]).toContainEqual(regions);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses another volume\'s map, a damaged one and an oversized bitmap with typed errors', async () => {
    const storage = new MemoryStorage(seededRandom(1));
    await create(storage);
    await expect(ChangeMap.open(new MemoryStorage(seededRandom(1), storage.bytes()), { volumeUid: OTHER_VOLUME_UID })).rejects.toMatchObject({ code: 'WrongVolume' });
    await expect(ChangeMap.open(new MemoryStorage(seededRandom(1), new Uint8Array(8192)), { volumeUid: TEST_VOLUME_UID })).rejects.toMatchObject({ code: 'Corrupt' });
    await expect(ChangeMap.open(new MemoryStorage(seededRandom(1)), { volumeUid: TEST_VOLUME_UID })).rejects.toMatchObject({ code: 'Corrupt' });
    await expect(create(new MemoryStorage(seededRandom(1)), 2 ** 40, 1)).rejects.toMatchObject({ code: 'TooLarge' });
  });

  it('survives a flipped bit in either copy', async () => {
    const storage = new MemoryStorage(seededRandom(1));
    const map = await create(storage, 64 * MIB, MIB);
    map.mark(5 * MIB, 1);
    await map.flush();
    map.mark(9 * MIB, 1);
    await map.flush();
    const image = storage.bytes();
    for (const position of [20, 70, 4096 + 20, 4096 + 70]) {
      const damaged = image.slice();
      damaged[position] = (damaged[position] ?? 0) ^ 4;
      const reopened = await ChangeMap.open(new MemoryStorage(seededRandom(1), damaged), { volumeUid: TEST_VOLUME_UID });
      // The newest good copy: with both marks, or (if it was the damaged one) the first.
      expect([...reopened.regions()][0]).toEqual({ offset: 5 * MIB, length: MIB });
    }
  });
});
