// Property: whatever the interleaving of appends, trims, epoch changes and crashes, after
// every reopen the log holds a contiguous run of what was appended, in order and intact,
// that contains every append whose promise resolved (unless a trim asked to release it),
// and nothing else: no torn, stale or invented entry is ever returned.
//
// Method: fast-check generates a scenario (a list of operations and a seed); it runs
// against a MemoryStorage that, at a crash, keeps only what was synced plus a random part
// of the rest: nothing, a prefix torn at a random byte, or random 512-byte sectors with one
// torn (disks reorder writes). Crashes strike after a random number of macrotasks, so in
// the middle of group commits, superblock writes and the open of the next session.
// A failing run prints its seed and the shrunk scenario; replay with fc's `seed`/`path`.
import fc from 'fast-check';
import { epoch as toEpoch, seq as toSeq } from '@bunker/proto/ids';
import { ChangeLog, type ChangeLogOptions } from './change-log.js';
import type { Entry, EntryKind } from './entry.js';
import { MemoryStorage, type CrashMode } from './memory-storage.js';
import { seededRandom } from './seeded-random.js';
import { makeEntry, TEST_VOLUME_UID } from './testing/log-fixtures.js';

const REGION_BYTES = 32 * 1024;
const OPTIONS: ChangeLogOptions = {
  volumeUid: TEST_VOLUME_UID, fillPolicy: { kind: 'fail' }, entryBytesMax: 4096, inflightBytesMax: 16 * 1024,
  readBlockBytes: 4096, indexIntervalBytes: 2048, superblockEveryBatches: 3,
};
const ALL = { bytesMax: Number.MAX_SAFE_INTEGER, entriesMax: Number.MAX_SAFE_INTEGER };

type Operation =
  | { readonly op: 'append'; readonly appends: readonly (readonly EntryShape[])[] }
  | { readonly op: 'settle' }
  | { readonly op: 'trim'; readonly keep: number; readonly wait: boolean }
  | { readonly op: 'newEpoch'; readonly seqJump: number }
  | { readonly op: 'crash'; readonly mode: CrashMode; readonly afterMacrotasks: number; readonly duringOpen: boolean }
  | { readonly op: 'reopen' };

interface EntryShape {
  readonly kind: EntryKind;
  readonly bytes: number;
}

const entryShape: fc.Arbitrary<EntryShape> = fc.oneof(
  // Mostly a few sizes: a stale record then lines up with the records written over it.
  { weight: 4, arbitrary: fc.record({ kind: fc.constant<EntryKind>('write'), bytes: fc.constantFrom(512, 4096) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant<EntryKind>('write'), bytes: fc.integer({ min: 1, max: 4096 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom<EntryKind>('trim', 'zero', 'flush'), bytes: fc.integer({ min: 0, max: 1 << 20 }) }) },
);

const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('append' as const), appends: fc.array(fc.array(entryShape, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 }) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'settle' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('trim' as const), keep: fc.integer({ min: 0, max: 8 }), wait: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('newEpoch' as const), seqJump: fc.integer({ min: 1, max: 5 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('crash' as const),
      mode: fc.constantFrom<CrashMode>('dropUnsynced', 'tornPrefix', 'anySectors'),
      afterMacrotasks: fc.integer({ min: 0, max: 12 }),
      duringOpen: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
);

/** What the test knows: every entry offered, in order, and which ones were acknowledged. */
class Model {
  history: Entry[] = [];
  ackedSeqs = new Set<number>();
  trimRequestedBelow = 0;
  epoch = 1;
  nextSeq = 1;
  pending: Promise<unknown>[] = [];
  /** Record bytes of appends not settled yet (queued ones are not in usedBytes). */
  pendingBytes = 0;

  shape(shape: EntryShape): Entry {
    const entry = makeEntry(this.nextSeq, this.epoch, shape.bytes, shape.kind);
    this.nextSeq += 1;
    return entry;
  }
}

const codeOf = (error: unknown): unknown => (typeof error === 'object' && error !== null && 'code' in error ? error.code : error);

const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function readAll(log: ChangeLog): Promise<Entry[]> {
  const entries: Entry[] = [];
  for await (const block of log.readFrom(toSeq(log.firstSeq - 1), ALL)) entries.push(...block);
  return entries;
}

/** Checks the reopened log against the model, then makes the model match the log. */
const describeEntry = (entry: Entry): string =>
  `${entry.epoch}/${entry.seq} ${entry.kind} ${entry.offset}+${entry.length} ${Buffer.from(entry.payload).toString('base64')}`;

/** How recoveries ended, so the test can show it exercised torn tails and not only clean ends. */
const stops = new Map<string, number>();

async function verify(log: ChangeLog, model: Model): Promise<void> {
  const recovered = await readAll(log);
  const stop = log.recovery?.stop.reason ?? 'closed';
  stops.set(stop, (stops.get(stop) ?? 0) + 1);
  const start = recovered[0] === undefined ? -1 : model.history.findIndex((entry) => entry.seq === recovered[0]?.seq);
  if (recovered.length > 0) {
    expect(start).toBeGreaterThanOrEqual(0);
    // Compared as text: jest's deep equality walks typed arrays element by element.
    expect(recovered.map(describeEntry)).toEqual(model.history.slice(start, start + recovered.length).map(describeEntry));
  }
  const recoveredSeqs = new Set<number>(recovered.map((entry) => entry.seq));
  for (const acked of model.ackedSeqs) {
    if (acked >= model.trimRequestedBelow && acked >= log.firstSeq) expect(recoveredSeqs.has(acked)).toBe(true);
    expect(log.durableSeq).toBeGreaterThanOrEqual(acked);
  }
  expect(log.appliedSeq).toBeLessThanOrEqual(log.durableSeq);
  // Entries after the recovered end were never durable: forget them, their seqs are reused.
  const end = model.history.findIndex((entry) => entry.seq === log.durableSeq);
  model.history = end >= 0 ? model.history.slice(0, end + 1) : model.history.filter((entry) => entry.seq <= log.durableSeq);
  model.ackedSeqs = new Set([...model.ackedSeqs].filter((acked) => acked <= log.durableSeq));
  model.nextSeq = log.durableSeq + 1;
  model.epoch = log.epoch;
}

function append(log: ChangeLog, model: Model, shapes: readonly EntryShape[]): void {
  const entries = shapes.map((shape) => model.shape(shape));
  model.history.push(...entries);
  const lastSeq = entries.at(-1)?.seq ?? 0;
  const bytes = entries.reduce((sum, entry) => sum + entry.payload.length + 72, 0);
  model.pendingBytes += bytes;
  model.pending.push(
    log.append(entries).finally(() => { model.pendingBytes -= bytes; }).then(
      (outcome) => {
        expect(outcome).toEqual({ kind: 'durable', lastSeq });
        for (const entry of entries) model.ackedSeqs.add(entry.seq);
      },
      // Only a crash may fail an append here; the next reopen's checks decide what survived.
      (error: unknown) => expect(error).toMatchObject({ code: 'Io' }),
    ),
  );
}

/** Keeps room for the next append: the fill policy is not what this property is about. */
async function makeRoom(log: ChangeLog, model: Model): Promise<void> {
  if (log.usedBytes + model.pendingBytes + 4 * 4160 < REGION_BYTES) return;
  await Promise.all(model.pending);
  log.markApplied(log.durableSeq);
  model.trimRequestedBelow = Math.max(model.trimRequestedBelow, log.durableSeq + 1);
  await log.trimBelow(toSeq(log.durableSeq + 1));
}

async function crashAndReopen(storage: MemoryStorage, operation: Extract<Operation, { op: 'crash' }>): Promise<{ log: ChangeLog; storage: MemoryStorage }> {
  for (let tick = 0; tick < operation.afterMacrotasks; tick += 1) await nextMacrotask();
  let after = storage.crash(operation.mode);
  if (operation.duringOpen) {
    // Crash again while the next session is being recorded in the superblocks.
    const opening = ChangeLog.open(after, OPTIONS).catch((error: unknown) => error);
    for (let tick = 0; tick < operation.afterMacrotasks; tick += 1) await nextMacrotask();
    const interrupted = after;
    after = interrupted.crash(operation.mode);
    await opening;
  }
  return { log: await ChangeLog.open(after, OPTIONS), storage: after };
}

async function runScenario(seedValue: number, batchEntriesMax: number, operations: readonly Operation[]): Promise<void> {
  // Up to 3 macrotasks per operation: a datasync may complete after a later write.
  let storage = new MemoryStorage(seededRandom(seedValue), new Uint8Array(0), 3);
  let log = await ChangeLog.create(storage, { ...OPTIONS, batchEntriesMax, sizeBytes: 8192 + REGION_BYTES, logId: 11 });
  const model = new Model();
  for (const step of operations) {
    switch (step.op) {
      case 'append':
        for (const shapes of step.appends) {
          await makeRoom(log, model);
          append(log, model, shapes);
        }
        break;
      case 'settle':
        await Promise.all(model.pending);
        break;
      case 'trim': {
        const below = Math.max(1, log.durableSeq - step.keep);
        log.markApplied(toSeq(Math.min(log.durableSeq, below)));
        model.trimRequestedBelow = Math.max(model.trimRequestedBelow, below);
        // A trim still running when the log crashes or closes is refused (Io or Closed).
        const trim = log.trimBelow(toSeq(below)).catch((error: unknown) => expect(['Io', 'Closed']).toContain(codeOf(error)));
        if (step.wait) await trim;
        break;
      }
      case 'newEpoch':
        await Promise.all(model.pending);
        model.epoch += 1;
        model.nextSeq += step.seqJump;
        if (step.seqJump % 2 === 0) await log.beginEpoch(toEpoch(model.epoch));
        break;
      case 'crash':
        ({ log, storage } = await crashAndReopen(storage, step));
        await Promise.all(model.pending);
        model.pending = [];
        await verify(log, model);
        break;
      case 'reopen':
        await Promise.all(model.pending);
        model.pending = [];
        await log.close();
        storage = new MemoryStorage(seededRandom(seedValue + 1), storage.bytes(), 3);
        log = await ChangeLog.open(storage, OPTIONS);
        await verify(log, model);
        break;
    }
  }
  // A final crash with nothing in flight must lose nothing acknowledged.
  ({ log } = await crashAndReopen(storage, { op: 'crash', mode: 'anySectors', afterMacrotasks: 0, duringOpen: false }));
  await Promise.all(model.pending);
  await verify(log, model);
}

describe('ChangeLog crash recovery (property)', () => {
  it('keeps every acknowledged append, intact and in order, and returns nothing else', async () => {
    await fc.assert(
      // Small batch limits keep the pipeline full: one batch syncing while the next is written.
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 8 }), fc.array(operation, { minLength: 5, maxLength: 40 }), runScenario,
      ),
      { numRuns: 300, interruptAfterTimeLimit: 40_000 },
    );
    // Torn records (bad CRC) and stale ones (sequence does not follow) were met and cut.
    expect((stops.get('crc') ?? 0) + (stops.get('headerCrc') ?? 0)).toBeGreaterThan(0);
    expect(stops.get('chain') ?? 0).toBeGreaterThan(0);
  }, 60_000);
});
