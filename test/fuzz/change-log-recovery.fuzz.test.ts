// Fuzzes the change log's recovery (agent/src/log/recovery.ts, scan.ts) over random damage:
// a log of N entries (random sizes and kinds) is written to a MemoryStorage, then left as a
// clean close, an open log, or a crash with the last append in flight (nothing unsynced kept,
// a torn prefix, or random sectors); then random bytes are flipped, ranges overwritten
// (zeroes, 0xff, a repeated byte) and the file truncated, anywhere including the superblocks.
// Properties of the reopen: it throws nothing but a LogError with code Corrupt; what it reads
// back is a prefix of what was written (same seq, epoch, range, kind, payload), so nothing
// from the first damaged record on is replayed; after a clean close with both superblocks
// intact, a damaged record is refused (it was recorded durable); an image nobody damaged
// reads back in full.
import fc from 'fast-check';
import { seq } from '@bunker/proto/ids';
import { ChangeLog, type ChangeLogOptions } from '../../agent/src/log/change-log.js';
import type { Entry, EntryKind } from '../../agent/src/log/entry.js';
import { LogError } from '../../agent/src/log/errors.js';
import { DATA_START_POSITION, ENTRY_HEADER_BYTES } from '../../agent/src/log/format.js';
import { MemoryStorage, type CrashMode } from '../../agent/src/log/memory-storage.js';
import { seededRandom } from '../../agent/src/log/seeded-random.js';
import type { Storage } from '../../agent/src/log/storage.js';
import { makeEntry, TEST_VOLUME_UID } from '../../agent/src/log/testing/log-fixtures.js';
import { fuzzBudget } from './fuzz-budget.js';

const REGION_BYTES = 64 * 1024;
const SIZE_BYTES = DATA_START_POSITION + REGION_BYTES;
const OPTIONS: ChangeLogOptions = {
  volumeUid: TEST_VOLUME_UID, fillPolicy: { kind: 'fail' }, entryBytesMax: 2048, readBlockBytes: 4096, indexIntervalBytes: 2048,
  superblockEveryBatches: 4,
};
const ALL = { bytesMax: Number.MAX_SAFE_INTEGER, entriesMax: Number.MAX_SAFE_INTEGER };

interface EntryShape {
  readonly kind: EntryKind;
  readonly bytes: number;
}

type Ending =
  | { readonly how: 'close' }
  | { readonly how: 'leave-open' }
  /** The last entry's append is in flight when the machine stops. */
  | { readonly how: 'crash'; readonly mode: CrashMode; readonly afterMacrotasks: number };

type Damage =
  | { readonly damage: 'flip'; readonly at: number; readonly mask: number }
  | { readonly damage: 'fill'; readonly at: number; readonly length: number; readonly byte: number }
  | { readonly damage: 'truncate'; readonly at: number };

/** A position anywhere, in the data region more often (that is where records are). */
const position = fc.oneof(
  { weight: 1, arbitrary: fc.integer({ min: 0, max: SIZE_BYTES - 1 }) },
  { weight: 4, arbitrary: fc.integer({ min: DATA_START_POSITION, max: DATA_START_POSITION + 40 * 1024 }) },
);

const scenario = fc.record({
  entries: fc.array(
    fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant<EntryKind>('write'), bytes: fc.integer({ min: 1, max: 1500 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom<EntryKind>('trim', 'zero', 'flush'), bytes: fc.integer({ min: 0, max: 1 << 20 }) }) },
    ),
    { minLength: 1, maxLength: 24 },
  ),
  ending: fc.oneof(
    fc.constant<Ending>({ how: 'close' }),
    fc.constant<Ending>({ how: 'leave-open' }),
    fc.record({
      how: fc.constant('crash' as const),
      mode: fc.constantFrom<CrashMode>('dropUnsynced', 'tornPrefix', 'anySectors'),
      afterMacrotasks: fc.integer({ min: 0, max: 4 }),
    }),
  ),
  damages: fc.array(
    fc.oneof(
      { weight: 4, arbitrary: fc.record({ damage: fc.constant('flip' as const), at: position, mask: fc.integer({ min: 1, max: 255 }) }) },
      { weight: 2, arbitrary: fc.record({ damage: fc.constant('fill' as const), at: position, length: fc.integer({ min: 1, max: 600 }), byte: fc.constantFrom(0, 0xff, 0x41) }) },
      { weight: 1, arbitrary: fc.record({ damage: fc.constant('truncate' as const), at: position }) },
    ),
    { maxLength: 3 },
  ),
  seed: fc.nat(),
});

interface Written {
  readonly bytes: Uint8Array;
  /** Every entry whose append was issued, by seq (the last may not have been acknowledged). */
  readonly entries: ReadonlyMap<number, Entry>;
  /** Byte range of each entry's record in the file, by seq. */
  readonly records: ReadonlyMap<number, { readonly start: number; readonly end: number }>;
}

/** Writes the entries one append at a time, tracing where each record lands. */
async function writeLog(shapes: readonly EntryShape[], ending: Ending, seed: number): Promise<Written> {
  const memory = new MemoryStorage(seededRandom(seed));
  const dataWrites: { start: number; end: number }[] = [];
  const traced: Storage = {
    read: (at, length) => memory.read(at, length),
    writev: (at, buffers) => {
      if (at >= DATA_START_POSITION) dataWrites.push({ start: at, end: at + buffers.reduce((sum, buffer) => sum + buffer.length, 0) });
      return memory.writev(at, buffers);
    },
    datasync: () => memory.datasync(),
    size: () => memory.size(),
    close: () => memory.close(),
  };
  const log = await ChangeLog.create(traced, { ...OPTIONS, sizeBytes: SIZE_BYTES, logId: 17 });
  // Creating the log sizes the file; only the appends' writes are records.
  dataWrites.length = 0;
  const entries = new Map<number, Entry>();
  const inFlight = ending.how === 'crash' ? shapes.length : shapes.length + 1;
  let pending: Promise<unknown> = Promise.resolve();
  for (const [index, shape] of shapes.entries()) {
    const entry = makeEntry(index + 1, 1, shape.bytes, shape.kind);
    entries.set(entry.seq, entry);
    if (index + 1 === inFlight) pending = log.append([entry]).then(() => undefined, (error: unknown) => error);
    else await log.append([entry]);
  }
  let bytes: Uint8Array;
  if (ending.how === 'crash') {
    for (let tick = 0; tick < ending.afterMacrotasks; tick += 1) await new Promise((resolve) => setImmediate(resolve));
    bytes = memory.crash(ending.mode).bytes();
    const outcome = await pending;
    // The append in flight either completed or learned of the crash as an I/O error.
    if (outcome !== undefined && !(outcome instanceof LogError)) throw outcome;
  } else {
    if (ending.how === 'close') await log.close();
    bytes = memory.bytes();
  }
  // One record per append: the n-th data write is the record of seq n. What the record's CRC
  // protects is its header and payload; the zero padding to 8 bytes after them carries nothing,
  // so a flip there damages no record (regressions/change-log-padding.test.ts).
  const records = new Map(dataWrites.map((range, index) => {
    const payloadBytes = entries.get(index + 1)?.payload.length ?? range.end - range.start;
    return [index + 1, { start: range.start, end: Math.min(range.end, range.start + ENTRY_HEADER_BYTES + payloadBytes) }];
  }));
  return { bytes, entries, records };
}

function applyDamage(bytes: Uint8Array, damages: readonly Damage[]): Uint8Array {
  let damaged = bytes.slice();
  for (const damage of damages) {
    if (damage.damage === 'truncate') damaged = damaged.slice(0, Math.min(damage.at, damaged.length));
    else if (damage.damage === 'flip') { if (damage.at < damaged.length) damaged[damage.at] = (damaged[damage.at] ?? 0) ^ damage.mask; }
    else damaged.fill(damage.byte, Math.min(damage.at, damaged.length), Math.min(damage.at + damage.length, damaged.length));
  }
  return damaged;
}

/** The first byte where the images differ (a shorter image differs at its end), or undefined. */
function firstDifference(before: Uint8Array, after: Uint8Array, from: number, to: number): number | undefined {
  for (let at = from; at < to; at += 1) {
    if (at >= after.length || after[at] !== before[at]) return at;
  }
  return undefined;
}

type Reopened = { readonly error: LogError } | { readonly firstSeq: number; readonly entries: readonly Entry[] };

async function reopen(bytes: Uint8Array, seed: number): Promise<Reopened> {
  try {
    const log = await ChangeLog.open(new MemoryStorage(seededRandom(seed), bytes), OPTIONS);
    const entries: Entry[] = [];
    for await (const block of log.readFrom(seq(log.firstSeq - 1), ALL)) entries.push(...block);
    return { firstSeq: log.firstSeq, entries };
  } catch (error) {
    if (!(error instanceof LogError)) throw new Error(`reopen threw an untyped ${String(error)}`, { cause: error });
    return { error };
  }
}

const sameEntry = (a: Entry, b: Entry | undefined): boolean =>
  b !== undefined && a.epoch === b.epoch && a.seq === b.seq && a.offset === b.offset && a.length === b.length && a.kind === b.kind &&
  Buffer.from(a.payload).equals(Buffer.from(b.payload));

describe('change log recovery over random damage', () => {
  const budget = fuzzBudget(250);
  it('reopens to a prefix of what was written, cut before the first damaged record, or refuses with Corrupt', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ entries: shapes, ending, damages, seed }) => {
        const written = await writeLog(shapes, ending, seed);
        expect(written.records.size).toBeGreaterThanOrEqual(shapes.length - (ending.how === 'crash' ? 1 : 0));
        expect(written.records.size).toBeLessThanOrEqual(shapes.length);
        const damaged = applyDamage(written.bytes, damages);
        const result = await reopen(damaged, seed + 1);
        const firstDamagedSeq = [...written.records].find(([, range]) => firstDifference(written.bytes, damaged, range.start, range.end) !== undefined)?.[0];
        // A clean close records every entry durable in both superblock copies: losing one of
        // them must be refused, never hidden by a cut.
        const superblocksIntact = firstDifference(written.bytes, damaged, 0, DATA_START_POSITION) === undefined;
        if (ending.how === 'close' && superblocksIntact && firstDamagedSeq !== undefined) expect(result).toMatchObject({ error: { code: 'Corrupt' } });
        if ('error' in result) {
          expect(result.error.code).toBe('Corrupt');
          // Refusing is only right when something was damaged (or the crash lost the superblocks' work).
          if (ending.how !== 'crash') expect(firstDifference(written.bytes, damaged, 0, written.bytes.length)).toBeDefined();
          return;
        }
        // A prefix: consecutive from the first seq, each exactly as written.
        expect(result.firstSeq).toBe(1);
        result.entries.forEach((entry, index) => {
          expect(entry.seq).toBe(index + 1);
          expect(sameEntry(entry, written.entries.get(entry.seq))).toBe(true);
        });
        // Nothing at or after the first damaged record is replayed.
        if (firstDamagedSeq !== undefined) expect(result.entries.length).toBeLessThan(firstDamagedSeq);
        // Undamaged and acknowledged: everything comes back.
        if (damages.length === 0 && ending.how !== 'crash') expect(result.entries.length).toBe(shapes.length);
        if (damages.length === 0 && ending.how === 'crash') expect(result.entries.length).toBeGreaterThanOrEqual(shapes.length - 1);
      }),
      budget.parameters,
    );
  }, budget.timeoutMs);
});
