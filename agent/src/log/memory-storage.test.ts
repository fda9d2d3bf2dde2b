// MemoryStorage keeps its fault model: synced bytes survive a crash, unsynced ones survive
// only as the crash mode allows, a crashed instance is dead, injected failures fire once.
import { MemoryStorage } from './memory-storage.js';
import { seededRandom } from './seeded-random.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

describe('MemoryStorage', () => {
  it('reads what was written, short at the end, and grows', async () => {
    const storage = new MemoryStorage(seededRandom(1));
    await storage.writev(4, [bytes(1, 2), bytes(3)]);
    expect(await storage.size()).toBe(7);
    expect(await storage.read(3, 10)).toEqual(bytes(0, 1, 2, 3));
    expect(await storage.read(10, 4)).toEqual(bytes());
  });

  it('keeps synced bytes and drops unsynced ones on dropUnsynced', async () => {
    const storage = new MemoryStorage(seededRandom(1));
    await storage.writev(0, [bytes(1, 1, 1, 1)]);
    await storage.datasync();
    await storage.writev(0, [bytes(9, 9)]);
    const after = storage.crash('dropUnsynced');
    expect(after.bytes()).toEqual(bytes(1, 1, 1, 1));
    await expect(storage.read(0, 1)).rejects.toThrow(/crashed/);
  });

  it('keeps a prefix of the unsynced writes, torn at a byte, on tornPrefix', async () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 200; seed += 1) {
      const storage = new MemoryStorage(seededRandom(seed), new Uint8Array(8));
      await storage.writev(0, [bytes(1, 1, 1, 1)]);
      await storage.writev(4, [bytes(2, 2, 2, 2)]);
      const after = storage.crash('tornPrefix').bytes();
      const text = Array.from(after).join('');
      // Any prefix of the byte stream 11112222, never a later byte without an earlier one.
      expect(text).toMatch(/^1{0,4}0*$|^11112{0,4}0*$/);
      seen.add(text);
    }
    expect(seen.size).toBeGreaterThan(5);
  });

  it('lets any sector survive on anySectors, one torn', async () => {
    let outOfOrder = false;
    for (let seed = 1; seed <= 100; seed += 1) {
      const storage = new MemoryStorage(seededRandom(seed), new Uint8Array(2048));
      await storage.writev(0, [new Uint8Array(2048).fill(7)]);
      const after = storage.crash('anySectors').bytes();
      const sectors = [0, 1, 2, 3].map((index) => after[index * 512 + 511] === 7);
      if (sectors[0] === false && sectors.slice(1).some(Boolean)) outOfOrder = true;
    }
    expect(outOfOrder).toBe(true);
  });

  it('counts as durable only the writes issued before a datasync', async () => {
    const storage = new MemoryStorage(seededRandom(1));
    await storage.writev(0, [bytes(1)]);
    const sync = storage.datasync();
    await storage.writev(1, [bytes(2)]);
    await sync;
    expect(storage.crash('dropUnsynced').bytes()).toEqual(bytes(1));
  });

  it('completes operations out of order when given a latency above one macrotask', async () => {
    let reordered = false;
    for (let seed = 1; seed <= 20 && !reordered; seed += 1) {
      const storage = new MemoryStorage(seededRandom(seed), new Uint8Array(0), 3);
      const done: string[] = [];
      await Promise.all([storage.datasync().then(() => done.push('sync')), storage.writev(0, [bytes(1)]).then(() => done.push('write'))]);
      reordered = done[0] === 'write';
    }
    expect(reordered).toBe(true);
  });

  it('fails the next call of an operation once', async () => {
    const storage = new MemoryStorage(seededRandom(1));
    storage.failNext('datasync', new Error('EIO'));
    await expect(storage.datasync()).rejects.toThrow('EIO');
    await expect(storage.datasync()).resolves.toBeUndefined();
  });
});
