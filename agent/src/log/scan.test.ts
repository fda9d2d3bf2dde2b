// The walk: which record follows which (a table), and where a walk stops on the storage:
// zeros, stale records of an earlier lap or session, foreign records, torn payloads,
// truncation; wrap markers and the skip rule lead it back to the start.
import { epoch, seq } from '@bunker/proto/ids';
import { CommitBatch, type PendingAppend } from './commit-batch.js';
import { deferred } from './deferred.js';
import type { Entry } from './entry.js';
import { DATA_START_POSITION, encodeHeader, headerOf, recordBytes } from './format.js';
import { layoutFor, type Layout } from './log-space.js';
import { MemoryStorage } from './memory-storage.js';
import { follows, Scanner, type ChainLink, type ScanPoint, type ScannedRecord } from './scan.js';
import { seededRandom } from './seeded-random.js';
import { makeEntry } from './testing/log-fixtures.js';

const link = (epochValue: number, seqValue: number, session = 1): ChainLink => ({ epoch: epoch(epochValue), seq: seq(seqValue), session });
const LOG_ID = 21;

function pending(entries: readonly Entry[], session = 1): PendingAppend {
  const records = entries.map((entry) => ({
    header: encodeHeader(headerOf(entry, LOG_ID, session), entry.payload),
    payload: entry.payload,
    bytes: recordBytes(entry.payload.length),
    link: { epoch: entry.epoch, seq: entry.seq, session },
  }));
  return { records, bytes: records.reduce((sum, record) => sum + record.bytes, 0), lastSeq: entries.at(-1)?.seq ?? seq(0), done: deferred() };
}

/** Writes entries from `from` the way the change log does; returns the point after them. */
async function write(storage: MemoryStorage, layout: Layout, from: ScanPoint, entries: readonly Entry[], session = 1): Promise<ScanPoint> {
  const batch = new CommitBatch(layout, from, LOG_ID);
  batch.add(pending(entries, session));
  for (const segment of batch.segments) await storage.writev(segment.position, segment.buffers);
  return batch.end;
}

async function walk(storage: MemoryStorage, layout: Layout, from: ScanPoint, verifyPayload = true): Promise<{ records: ScannedRecord[]; scanner: Scanner }> {
  const scanner = new Scanner(storage, layout, { logId: LOG_ID, readBlockBytes: 300, verifyPayload }, from);
  const records: ScannedRecord[] = [];
  for (let record = await scanner.next(); record !== undefined; record = await scanner.next()) records.push(record);
  return { records, scanner };
}

const seqs = (records: readonly ScannedRecord[]): number[] => records.map((record) => record.header.seq);

describe('follows', () => {
  it.each([
    ['the next seq in the same epoch', link(1, 5), link(1, 6), true],
    ['a gap in the same epoch', link(1, 5), link(1, 7), false],
    ['a repeated seq', link(1, 5), link(1, 5), false],
    ['a newer epoch at a higher seq', link(1, 5), link(2, 9), true],
    ['a newer epoch at the same seq', link(1, 5), link(2, 5), false],
    ['an older epoch', link(2, 5), link(1, 6), false],
    ['an older session', link(1, 5, 3), link(1, 6, 2), false],
    ['a newer session', link(1, 5, 2), link(1, 6, 3), true],
  ])('%s', (_, prev, next, expected) => {
    expect(follows(prev, next)).toBe(expected);
  });
});

describe('Scanner', () => {
  const layout = layoutFor(DATA_START_POSITION + 4096);
  const origin: ScanPoint = { position: DATA_START_POSITION, prev: link(1, 0, 0) };

  it('walks records in order and stops at zeros', async () => {
    const storage = new MemoryStorage(seededRandom(1), new Uint8Array(layout.end));
    const end = await write(storage, layout, origin, [makeEntry(1, 1, 100), makeEntry(2, 1, 0, 'flush'), makeEntry(3, 1, 50)]);
    const { records, scanner } = await walk(storage, layout, origin);
    expect(seqs(records)).toEqual([1, 2, 3]);
    expect(records[0]?.payload).toEqual(makeEntry(1, 1, 100).payload);
    expect(scanner.point).toEqual(end);
    expect(scanner.stop).toEqual({ reason: 'magic', position: end.position });
  });

  it('follows a wrap marker and the skip rule back to the start', async () => {
    const storage = new MemoryStorage(seededRandom(1), new Uint8Array(layout.end));
    const nearEnd: ScanPoint = { position: layout.end - 500, prev: link(1, 9) };
    // Two 364-byte records do not both fit in the last 500 bytes: a marker sends the second
    // to the start.
    await write(storage, layout, nearEnd, [makeEntry(10, 1, 300), makeEntry(11, 1, 300), makeEntry(12, 1, 200)]);
    const { records } = await walk(storage, layout, nearEnd);
    expect(seqs(records)).toEqual([10, 11, 12]);
    expect(records[1]?.at.position).toBe(DATA_START_POSITION);

    // A record that ends less than a header before the end: the next one goes to the
    // start with no marker (the skip rule).
    const skipping: ScanPoint = { position: layout.end - recordBytes(400) - 40, prev: link(1, 19) };
    const after = await write(storage, layout, skipping, [makeEntry(20, 1, 400), makeEntry(21, 1, 8)]);
    expect(after.position).toBe(DATA_START_POSITION + recordBytes(8));
    expect(seqs((await walk(storage, layout, skipping)).records)).toEqual([20, 21]);
  });

  it('stops at a stale record of an earlier lap, which does not follow', async () => {
    const storage = new MemoryStorage(seededRandom(1), new Uint8Array(layout.end));
    await write(storage, layout, origin, [makeEntry(1, 1, 100), makeEntry(2, 1, 100), makeEntry(3, 1, 100)]);
    const newer: ScanPoint = { position: DATA_START_POSITION, prev: link(1, 40) };
    await write(storage, layout, newer, [makeEntry(41, 1, 100)]);
    const { records, scanner } = await walk(storage, layout, newer);
    expect(seqs(records)).toEqual([41]);
    expect(scanner.stop?.reason).toBe('chain');
  });

  it('stops at a stale record of an earlier session, even when its sequence would follow', async () => {
    const storage = new MemoryStorage(seededRandom(1), new Uint8Array(layout.end));
    await write(storage, layout, origin, [makeEntry(1, 1, 100), makeEntry(2, 1, 100)], 1);
    await write(storage, layout, origin, [makeEntry(1, 1, 100)], 2);
    const { records, scanner } = await walk(storage, layout, origin);
    expect(seqs(records)).toEqual([1]);
    expect(scanner.stop?.reason).toBe('chain');
  });

  it('stops at a torn payload, a foreign record and a truncated storage', async () => {
    const storage = new MemoryStorage(seededRandom(1), new Uint8Array(layout.end));
    const end = await write(storage, layout, origin, [makeEntry(1, 1, 100), makeEntry(2, 1, 100)]);
    const image = storage.bytes();
    const torn = image.slice();
    torn[end.position - 10] = (torn[end.position - 10] ?? 0) ^ 1;
    const tornWalk = await walk(new MemoryStorage(seededRandom(1), torn), layout, origin);
    expect([seqs(tornWalk.records), tornWalk.scanner.stop?.reason]).toEqual([[1], 'crc']);

    const foreign = new Scanner(storage, layout, { logId: LOG_ID + 1, readBlockBytes: 4096, verifyPayload: true }, origin);
    expect(await foreign.next()).toBeUndefined();
    expect(foreign.stop?.reason).toBe('foreign');

    const truncated = await walk(new MemoryStorage(seededRandom(1), image.slice(0, end.position - 10)), layout, origin);
    expect([seqs(truncated.records), truncated.scanner.stop?.reason]).toEqual([[1], 'short']);
  });

  it('walks headers only when payloads are not wanted', async () => {
    const storage = new MemoryStorage(seededRandom(1), new Uint8Array(layout.end));
    await write(storage, layout, origin, [makeEntry(1, 1, 1000), makeEntry(2, 1, 1000)]);
    const { records } = await walk(storage, layout, origin, false);
    expect(seqs(records)).toEqual([1, 2]);
    expect(records.every((record) => record.payload.length === 0)).toBe(true);
  });
});
