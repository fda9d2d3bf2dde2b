// Recovery on its own: what it reports, and the rule that a walk must reach the durable
// sequence the superblock recorded. The bad-input cases are in change-log-corruption.test.ts.
import { seq } from '@bunker/proto/ids';
import { ChangeLog } from './change-log.js';
import { DATA_START_POSITION } from './format.js';
import { MemoryStorage } from './memory-storage.js';
import { readSuperblock, recover } from './recovery.js';
import { seededRandom } from './seeded-random.js';
import { parseVolumeUid } from './volume-uid.js';
import { makeEntry, OTHER_VOLUME_UID, TEST_VOLUME_UID } from './testing/log-fixtures.js';

const options = { volumeUid: parseVolumeUid(TEST_VOLUME_UID), readBlockBytes: 4096, indexIntervalBytes: 1024 };

async function image(close: boolean): Promise<Uint8Array> {
  const storage = new MemoryStorage(seededRandom(1));
  const log = await ChangeLog.create(storage, { volumeUid: TEST_VOLUME_UID, fillPolicy: { kind: 'fail' }, sizeBytes: DATA_START_POSITION + 65536, entryBytesMax: 4096, logId: 3 });
  for (let n = 1; n <= 10; n += 1) await log.append([makeEntry(n, 1, 1000)]);
  log.markApplied(seq(4));
  if (close) await log.close();
  return storage.bytes();
}

describe('recover', () => {
  it('walks from the tail to the end and reports where and why it stopped', async () => {
    const found = await recover(new MemoryStorage(seededRandom(2), await image(true)), options);
    expect(found.end.prev.seq).toBe(10);
    expect(found.superblock).toMatchObject({ durableSeq: 10, appliedSeq: 4, logId: 3 });
    expect(found.report).toMatchObject({ entries: 10, stop: { reason: 'magic', position: found.end.position } });
    expect(found.index.floor(seq(10))?.seq).toBeGreaterThan(1);
    expect(found.lastSession).toBe(1);
  });

  it('accepts a walk that ends beyond the recorded durable mark (the superblock lags)', async () => {
    const found = await recover(new MemoryStorage(seededRandom(2), await image(false)), options);
    expect(found.superblock.durableSeq).toBe(0);
    expect(found.end.prev.seq).toBe(10);
  });

  it('refuses a log of another volume before walking it', async () => {
    const storage = new MemoryStorage(seededRandom(2), await image(true));
    await expect(readSuperblock(storage, parseVolumeUid(OTHER_VOLUME_UID))).rejects.toMatchObject({ code: 'WrongVolume' });
  });

  it('turns a storage failure into Io', async () => {
    const storage = new MemoryStorage(seededRandom(2), await image(true));
    storage.failNext('read', new Error('EIO'));
    await expect(recover(storage, options)).rejects.toMatchObject({ code: 'Io', cause: { message: 'EIO' } });
  });
});
