// The change log's behaviour on a MemoryStorage (no crashes here: change-log-crash.test.ts
// and test/unit/log/ cover those): group commit, ordering rules, reads in bounded blocks,
// trim, applied mark, epochs, fill policies, back-pressure and storage failures.
import { epoch, seq } from '@bunker/proto/ids';
import { ChangeLog, type ChangeLogCreateOptions } from './change-log.js';
import type { Entry } from './entry.js';
import { LogError } from './errors.js';
import { MemoryStorage } from './memory-storage.js';
import type { Storage } from './storage.js';
import { seededRandom } from './seeded-random.js';
import { isIntact, makeEntry, TEST_VOLUME_UID } from './testing/log-fixtures.js';

const REGION_BYTES = 64 * 1024;
const SIZE_BYTES = 8192 + REGION_BYTES;
const ALL = { bytesMax: Number.MAX_SAFE_INTEGER, entriesMax: Number.MAX_SAFE_INTEGER };
const OPEN = { volumeUid: TEST_VOLUME_UID, fillPolicy: { kind: 'fail' }, entryBytesMax: 8192 } as const;

async function newLog(overrides: Partial<ChangeLogCreateOptions> = {}): Promise<{ log: ChangeLog; storage: MemoryStorage }> {
  const storage = new MemoryStorage(seededRandom(1));
  const log = await ChangeLog.create(storage, {
    sizeBytes: SIZE_BYTES, volumeUid: TEST_VOLUME_UID, fillPolicy: { kind: 'fail' }, entryBytesMax: 8192, logId: 7, ...overrides,
  });
  return { log, storage };
}

async function readAll(log: ChangeLog): Promise<Entry[]> {
  const entries: Entry[] = [];
  for await (const block of log.readFrom(seq(log.firstSeq - 1), ALL)) entries.push(...block);
  return entries;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toBeInstanceOf(LogError);
  await expect(promise).rejects.toMatchObject({ code });
}

const seqsOf = (entries: readonly Entry[]): number[] => entries.map((entry) => entry.seq);

/**
 * A log over memory whose storage calls are traced, and whose next datasync (the first after
 * creation) is held until `release.now()`.
 */
async function logWithHeldDatasync(seed: number): Promise<{ log: ChangeLog; trace: string[]; release: { now: () => void } }> {
  const memory = new MemoryStorage(seededRandom(seed));
  const trace: string[] = [];
  const release = { now: (): void => undefined };
  let holdNextSync = false;
  const gated: Storage = {
    read: (position, length) => memory.read(position, length),
    writev: async (position, buffers) => {
      trace.push('writev');
      await memory.writev(position, buffers);
    },
    datasync: async () => {
      trace.push('datasync');
      if (holdNextSync) {
        holdNextSync = false;
        await new Promise<void>((resolve) => { release.now = resolve; });
      }
      await memory.datasync();
    },
    size: () => memory.size(),
    close: () => memory.close(),
  };
  const log = await ChangeLog.create(gated, { sizeBytes: SIZE_BYTES, volumeUid: TEST_VOLUME_UID, fillPolicy: { kind: 'fail' }, entryBytesMax: 8192, logId: 7 });
  trace.length = 0;
  holdNextSync = true;
  return { log, trace, release };
}

describe('ChangeLog group commit', () => {
  it('batches 32 appends issued together into one writev and one datasync', async () => {
    const { log } = await newLog();
    const before = log.stats;
    const outcomes = await Promise.all(Array.from({ length: 32 }, (_, index) => log.append([makeEntry(index + 1, 1, 1024)])));
    expect(outcomes.at(-1)).toEqual({ kind: 'durable', lastSeq: 32 });
    expect(log.stats.writevs - before.writevs).toBe(1);
    expect(log.stats.datasyncs - before.datasyncs).toBe(1);
    expect(log.stats.batches - before.batches).toBe(1);
    expect(log.durableSeq).toBe(32);
  });

  it('resolves an append only after its batch datasync returned', async () => {
    const { log, storage } = await newLog();
    const done = log.append([makeEntry(1)]);
    let settled = false;
    void done.then(() => { settled = true; });
    // The record is written (visible to a reader of the storage) before it is durable.
    while (storage.opsCount < 1) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    expect(log.durableSeq).toBe(0);
    await done;
    expect(log.durableSeq).toBe(1);
  });

  it('gathers appends that arrive during a datasync into the next batch', async () => {
    const { log } = await newLog();
    const first = log.append([makeEntry(1)]);
    await new Promise((resolve) => setImmediate(resolve));
    const rest = Array.from({ length: 10 }, (_, index) => log.append([makeEntry(index + 2, 1, 512)]));
    await Promise.all([first, ...rest]);
    expect(log.stats.batches).toBe(2);
    expect(seqsOf(await readAll(log))).toEqual(Array.from({ length: 11 }, (_, index) => index + 1));
  });

  it('writes the next batch while the previous datasync runs, and completes them in order', async () => {
    const { log, trace, release } = await logWithHeldDatasync(1);
    const order: number[] = [];
    const first = log.append([makeEntry(1)]).then(() => order.push(1));
    while (!trace.includes('datasync')) await new Promise((resolve) => setImmediate(resolve));
    // The first datasync is held; an append made meanwhile is written before it returns.
    const second = log.append([makeEntry(2)]).then(() => order.push(2));
    while (trace.filter((op) => op === 'writev').length < 2) await new Promise((resolve) => setImmediate(resolve));
    for (let tick = 0; tick < 5; tick += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(trace).toEqual(['writev', 'datasync', 'writev']);
    // Written, but neither append is durable while the first datasync has not returned.
    expect([log.durableSeq, order]).toEqual([0, []]);
    release.now();
    await Promise.all([first, second]);
    expect(order).toEqual([1, 2]);
    expect(trace).toEqual(['writev', 'datasync', 'writev', 'datasync']);
  });

  it('starts the next datasync before it resolves the appends of the previous one', async () => {
    const { log, trace, release } = await logWithHeldDatasync(2);
    const first = log.append([makeEntry(1)]).then(() => trace.push('resolved 1'));
    while (!trace.includes('datasync')) await new Promise((resolve) => setImmediate(resolve));
    const second = log.append([makeEntry(2)]).then(() => trace.push('resolved 2'));
    while (trace.filter((op) => op === 'writev').length < 2) await new Promise((resolve) => setImmediate(resolve));
    release.now();
    await Promise.all([first, second]);
    // Otherwise an appender that appends again when its append resolves would run (encode,
    // CRC) while the device has nothing to do.
    expect(trace).toEqual(['writev', 'datasync', 'writev', 'datasync', 'resolved 1', 'resolved 2']);
  });

  it('keeps batches within batchEntriesMax and batchBytesMax', async () => {
    const byEntries = (await newLog({ batchEntriesMax: 4 })).log;
    await Promise.all(Array.from({ length: 20 }, (_, index) => byEntries.append([makeEntry(index + 1, 1, 256)])));
    expect(byEntries.stats.entries).toBe(20);
    expect(byEntries.stats.batches).toBeGreaterThanOrEqual(5);
    const byBytes = (await newLog({ batchBytesMax: 3 * 4160 })).log;
    await Promise.all(Array.from({ length: 9 }, (_, index) => byBytes.append([makeEntry(index + 1)])));
    expect(byBytes.stats.batches).toBeGreaterThanOrEqual(3);
    expect(seqsOf(await readAll(byBytes))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('applies back-pressure: in-flight entries never exceed inflightEntriesMax', async () => {
    const { log } = await newLog({ inflightEntriesMax: 4 });
    await Promise.all(Array.from({ length: 20 }, (_, index) => log.append([makeEntry(index + 1, 1, 256)])));
    expect(log.stats.batches).toBe(5);
    expect(log.stats.entries).toBe(20);
  });

  it('refuses an append with Busy when appendWaitersMax appends already wait', async () => {
    const { log } = await newLog({ inflightEntriesMax: 1, appendWaitersMax: 2 });
    const admitted = [log.append([makeEntry(1, 1, 64)]), log.append([makeEntry(2, 1, 64)]), log.append([makeEntry(3, 1, 64)])];
    await expectCode(log.append([makeEntry(4, 1, 64)]), 'Busy');
    await Promise.all(admitted);
    await expect(log.append([makeEntry(4, 1, 64)])).resolves.toEqual({ kind: 'durable', lastSeq: 4 });
  });
});

describe('ChangeLog ordering rules', () => {
  it('requires seq + 1 within an epoch', async () => {
    const { log } = await newLog();
    await log.append([makeEntry(1)]);
    await expectCode(log.append([makeEntry(3)]), 'SequenceGap');
    await expectCode(log.append([makeEntry(1)]), 'SequenceGap');
    await expectCode(log.append([makeEntry(2), makeEntry(4)]), 'SequenceGap');
    await expect(log.append([makeEntry(2)])).resolves.toEqual({ kind: 'durable', lastSeq: 2 });
  });

  it('lets a newer epoch start at any higher seq, and refuses older epochs after it', async () => {
    const { log } = await newLog();
    await log.append([makeEntry(1, 1), makeEntry(2, 1)]);
    await expectCode(log.append([makeEntry(2, 2)]), 'SequenceGap');
    await log.append([makeEntry(10, 2)]);
    expect(log.epoch).toBe(2);
    await expectCode(log.append([makeEntry(11, 1)]), 'StaleEpoch');
    expect(seqsOf(await readAll(log))).toEqual([1, 2, 10]);
  });

  it('fences with beginEpoch, durably', async () => {
    const { log, storage } = await newLog();
    await log.append([makeEntry(1, 1)]);
    await log.beginEpoch(epoch(5));
    await expectCode(log.append([makeEntry(2, 1)]), 'StaleEpoch');
    await expectCode(log.beginEpoch(epoch(4)), 'StaleEpoch');
    const reopened = await ChangeLog.open(storage.crash('dropUnsynced'), OPEN);
    expect(reopened.epoch).toBe(5);
    await expectCode(reopened.append([makeEntry(2, 1)]), 'StaleEpoch');
    await expect(reopened.append([makeEntry(7, 5)])).resolves.toEqual({ kind: 'durable', lastSeq: 7 });
  });

  it('refuses entries larger than entryBytesMax and appends larger than the log can take', async () => {
    const { log } = await newLog({ entryBytesMax: 8192 });
    await expectCode(log.append([makeEntry(1, 1, 8193)]), 'TooLarge');
    const many = Array.from({ length: 16 }, (_, index) => makeEntry(index + 1, 1, 8192));
    await expectCode(log.append(many), 'TooLarge');
  });

  it('treats a malformed entry as a programmer error', async () => {
    const { log } = await newLog();
    const bad: Entry = { ...makeEntry(1), length: 10 };
    await expect(log.append([bad])).rejects.toBeInstanceOf(RangeError);
    await expect(log.append([])).rejects.toBeInstanceOf(RangeError);
  });
});

describe('ChangeLog reads', () => {
  it('returns bounded blocks in order, payloads intact', async () => {
    const { log } = await newLog();
    for (let next = 1; next <= 40; next += 4) {
      await log.append([0, 1, 2, 3].map((offset) => makeEntry(next + offset, 1, 1000 + next * 10)));
    }
    const byCount = await log.readBlock(seq(0), { bytesMax: Number.MAX_SAFE_INTEGER, entriesMax: 7 });
    expect(seqsOf(byCount)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const byBytes = await log.readBlock(seq(10), { bytesMax: 3000, entriesMax: 100 });
    expect(seqsOf(byBytes)).toEqual([11, 12]);
    expect(seqsOf(await log.readBlock(seq(10), { bytesMax: 1, entriesMax: 100 }))).toEqual([11]);
    const blocks: number[][] = [];
    for await (const block of log.readFrom(seq(25), { bytesMax: 5000, entriesMax: 4 })) blocks.push(seqsOf(block));
    expect(blocks.flat()).toEqual(Array.from({ length: 15 }, (_, index) => index + 26));
    expect(blocks.every((block) => block.length >= 1 && block.length <= 4)).toBe(true);
    expect((await readAll(log)).every(isIntact)).toBe(true);
    expect(await log.readBlock(seq(40), ALL)).toEqual([]);
  });

  it('keeps trim, zero and flush entries with their regions', async () => {
    const { log } = await newLog();
    const entries = [makeEntry(1, 1, 4096), makeEntry(2, 1, 8192, 'trim'), makeEntry(3, 1, 65536, 'zero'), makeEntry(4, 1, 0, 'flush')];
    await log.append(entries);
    expect(await readAll(log)).toEqual(entries);
  });

  it('refuses to read below the first sequence with Trimmed', async () => {
    const { log } = await newLog();
    await log.append([makeEntry(1), makeEntry(2), makeEntry(3)]);
    log.markApplied(seq(3));
    expect(await log.trimBelow(seq(3))).toBe(3);
    await expectCode(log.readBlock(seq(0), ALL), 'Trimmed');
    expect(seqsOf(await log.readBlock(seq(2), ALL))).toEqual([3]);
  });
});

describe('ChangeLog trim and applied mark', () => {
  it('never trims above the applied mark', async () => {
    const { log } = await newLog();
    await log.append([makeEntry(1), makeEntry(2), makeEntry(3), makeEntry(4)]);
    expect(await log.trimBelow(seq(4))).toBe(1);
    log.markApplied(seq(2));
    expect(await log.trimBelow(seq(4))).toBe(3);
    expect(seqsOf(await readAll(log))).toEqual([3, 4]);
    expect(() => log.markApplied(seq(5))).toThrow(RangeError);
  });

  it('reports entries above the applied mark as incomplete, also after a crash', async () => {
    const { log, storage } = await newLog();
    await log.append([1, 2, 3, 4, 5].map((n) => makeEntry(n)));
    log.markApplied(seq(3));
    await log.flush();
    const reopened = await ChangeLog.open(storage.crash('dropUnsynced'), OPEN);
    expect(reopened.appliedSeq).toBe(3);
    const incomplete: Entry[] = [];
    for await (const block of reopened.incomplete({ bytesMax: 4096, entriesMax: 10 })) incomplete.push(...block);
    expect(seqsOf(incomplete)).toEqual([4, 5]);
  });

  it('persists the applied mark without a datasync of its own while appends flow', async () => {
    const { log } = await newLog({ superblockEveryBatches: 4 });
    for (let n = 1; n <= 12; n += 1) {
      await log.append([makeEntry(n, 1, 512)]);
      log.markApplied(seq(n));
    }
    expect(log.stats.datasyncs).toBe(log.stats.batches);
    expect(log.stats.superblockWrites).toBeGreaterThanOrEqual(2);
  });

  it('reuses space once a trim is recorded in both superblock copies, lap after lap', async () => {
    const { log } = await newLog();
    for (let n = 1; n <= 200; n += 1) {
      await log.append([makeEntry(n, 1, 100 + ((n * 397) % 3000))]);
      log.markApplied(seq(n));
      if (n % 10 === 0) await log.trimBelow(seq(n - 5));
    }
    expect(log.stats.bytesWritten).toBeGreaterThan(4 * REGION_BYTES);
    const live = await readAll(log);
    expect(seqsOf(live)).toEqual(Array.from({ length: 6 }, (_, index) => 195 + index));
    expect(live.every(isIntact)).toBe(true);
    expect(log.usedBytes).toBeLessThan(REGION_BYTES / 2);
  });
});

describe('ChangeLog fill policies', () => {
  async function fill(log: ChangeLog): Promise<number> {
    let next = 1;
    for (;;) {
      const outcome = await log.append([makeEntry(next, 1, 4096)]).catch((error: unknown) => error);
      if (!(typeof outcome === 'object' && outcome !== null && 'kind' in outcome && outcome.kind === 'durable')) return next;
      next += 1;
    }
  }

  it('fail: rejects with LogFull and keeps serving once trimmed', async () => {
    const { log } = await newLog({ fillPolicy: { kind: 'fail' } });
    const next = await fill(log);
    expect(next).toBeGreaterThan(10);
    await expectCode(log.append([makeEntry(next)]), 'LogFull');
    log.markApplied(log.durableSeq);
    await log.trimBelow(seq(next - 2));
    await expect(log.append([makeEntry(next)])).resolves.toEqual({ kind: 'durable', lastSeq: next });
  });

  it('block: waits for a trim, then appends', async () => {
    const { log } = await newLog({ fillPolicy: { kind: 'block', waitMs: 5_000 } });
    let next = 1;
    while (log.usedBytes + 4160 < REGION_BYTES) {
      await log.append([makeEntry(next)]);
      next += 1;
    }
    const waiting = log.append([makeEntry(next)]);
    let settled = false;
    void waiting.then(() => { settled = true; });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    log.markApplied(log.durableSeq);
    await log.trimBelow(seq(5));
    await expect(waiting).resolves.toEqual({ kind: 'durable', lastSeq: next });
  });

  it('block: gives up with LogFull after waitMs, and so does every append queued behind', async () => {
    const { log } = await newLog({ fillPolicy: { kind: 'block', waitMs: 30 } });
    const next = await fill(log).catch(() => 0);
    expect(next).toBeGreaterThan(0);
    const started = Date.now();
    const head = log.append([makeEntry(next)]);
    const behind = log.append([makeEntry(next + 1)]);
    await expectCode(head, 'LogFull');
    await expectCode(behind, 'LogFull');
    expect(Date.now() - started).toBeLessThan(2_000);
    // The queue restarts from the last entry admitted, so no gap can be written.
    await expectCode(log.append([makeEntry(next + 2)]), 'SequenceGap');
  }, 10_000);

  it('trackChanges: returns tracking and keeps returning it until resumed', async () => {
    const { log } = await newLog({ fillPolicy: { kind: 'trackChanges' } });
    let next = 1;
    let outcome = await log.append([makeEntry(next)]);
    while (outcome.kind === 'durable') {
      next += 1;
      outcome = await log.append([makeEntry(next)]);
    }
    expect(outcome).toEqual({ kind: 'tracking' });
    expect(log.mode).toBe('tracking');
    await expect(log.append([makeEntry(next + 1)])).resolves.toEqual({ kind: 'tracking' });
    log.markApplied(log.durableSeq);
    await log.trimBelow(log.durableSeq);
    log.resumeLogging();
    await expect(log.append([makeEntry(next)])).resolves.toEqual({ kind: 'durable', lastSeq: next });
  });
});

describe('ChangeLog failures and closing', () => {
  it('fails every pending append with Io when the datasync fails, and stays failed', async () => {
    const { log, storage } = await newLog();
    await log.append([makeEntry(1)]);
    storage.failNext('datasync', Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    const pending = [log.append([makeEntry(2)]), log.append([makeEntry(3)])];
    for (const append of pending) await expectCode(append, 'Io');
    await expectCode(log.append([makeEntry(4)]), 'Io');
    await expect(log.append([makeEntry(4)])).rejects.toMatchObject({ code: 'Io', cause: { code: 'EIO' } });
  });

  it('closes: persists the marks, refuses further use with Closed', async () => {
    const { log, storage } = await newLog();
    await log.append([makeEntry(1), makeEntry(2)]);
    log.markApplied(seq(2));
    await log.close();
    await log.close();
    await expectCode(log.append([makeEntry(3)]), 'Closed');
    await expectCode(log.readBlock(seq(0), ALL), 'Closed');
    const reopened = await ChangeLog.open(new MemoryStorage(seededRandom(2), storage.bytes()), OPEN);
    expect([reopened.appliedSeq, reopened.durableSeq]).toEqual([2, 2]);
  });

  it('starts after a given entry, for a staging log that joins mid-stream', async () => {
    const { log } = await newLog({ startAfter: { epoch: epoch(3), seq: seq(999) } });
    expect(log.firstSeq).toBe(1000);
    await expectCode(log.append([makeEntry(1001, 3)]), 'SequenceGap');
    await expect(log.append([makeEntry(1000, 3)])).resolves.toEqual({ kind: 'durable', lastSeq: 1000 });
  });
});
