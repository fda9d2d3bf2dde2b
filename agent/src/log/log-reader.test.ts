// The reader on its own: where walks start and stop, and how a walk cut short is classified
// (Trimmed when a trim moved past it, Corrupt when durable records changed on the medium).
import { epoch, seq } from '@bunker/proto/ids';
import { CommitBatch, type PendingAppend } from './commit-batch.js';
import { deferred } from './deferred.js';
import type { Entry } from './entry.js';
import { DATA_START_POSITION, encodeEntryHeader, recordBytes } from './format.js';
import { LogReader, type LiveMarks } from './log-reader.js';
import { layoutFor } from './log-space.js';
import { MemoryStorage } from './memory-storage.js';
import type { ScanPoint } from './scan.js';
import { seededRandom } from './seeded-random.js';
import { SeqIndex } from './seq-index.js';
import { makeEntry } from './testing/log-fixtures.js';

const layout = layoutFor(DATA_START_POSITION + 65536);
const origin: ScanPoint = { position: DATA_START_POSITION, prev: { epoch: epoch(1), seq: seq(0), session: 0 } };

async function setup(count: number): Promise<{ storage: MemoryStorage; marks: { current: LiveMarks }; reader: LogReader; index: SeqIndex }> {
  const storage = new MemoryStorage(seededRandom(1), new Uint8Array(layout.end));
  const entries: Entry[] = Array.from({ length: count }, (_, index) => makeEntry(index + 1, 1, 500));
  const records = entries.map((entry) => ({ header: encodeEntryHeader(entry, 9, 1), payload: entry.payload, bytes: recordBytes(500), link: { epoch: entry.epoch, seq: entry.seq, session: 1 } }));
  const append: PendingAppend = { records, bytes: records.length * recordBytes(500), lastSeq: seq(count), done: deferred() };
  const batch = new CommitBatch(layout, origin, 9);
  batch.add(append);
  for (const segment of batch.segments) await storage.writev(segment.position, segment.buffers);
  const index = new SeqIndex(65536, 2048);
  for (const note of batch.notes) index.note(note.point, note.seq, note.bytes);
  const marks = { current: { durableEnd: batch.end, firstSeq: seq(1), effectiveTail: origin } };
  const reader = new LogReader({ storage, layout, logId: 9, readBlockBytes: 4096, index, marks: () => marks.current });
  return { storage, marks, reader, index };
}

describe('LogReader', () => {
  it('reads from a checkpoint in the middle and locates trim points', async () => {
    const { reader } = await setup(40);
    expect((await reader.readBlock(seq(30), { bytesMax: 1e9, entriesMax: 3 })).map((entry) => entry.seq)).toEqual([31, 32, 33]);
    expect((await reader.readBlock(seq(38), { bytesMax: 1e9, entriesMax: 10 })).map((entry) => entry.seq)).toEqual([39, 40]);
    expect((await reader.locate(seq(11))).prev.seq).toBe(10);
    expect((await reader.locate(seq(99))).prev.seq).toBe(40);
  });

  it('calls a walk over damaged durable records Corrupt', async () => {
    const { storage, reader } = await setup(10);
    const bytes = storage.bytes();
    const at = DATA_START_POSITION + 5 * recordBytes(500) + 100;
    bytes[at] = (bytes[at] ?? 0) ^ 1;
    await storage.writev(0, [bytes]);
    await expect(reader.readBlock(seq(0), { bytesMax: 1e9, entriesMax: 100 })).rejects.toMatchObject({ code: 'Corrupt' });
  });

  it('calls a read below the first sequence, or one overtaken by a trim, Trimmed', async () => {
    const { storage, marks, reader } = await setup(10);
    marks.current = { ...marks.current, firstSeq: seq(5) };
    await expect(reader.readBlock(seq(2), { bytesMax: 1e9, entriesMax: 100 })).rejects.toMatchObject({ code: 'Trimmed' });
    // The walk starts, then finds the records replaced by newer ones: a trim overtook it.
    marks.current = { ...marks.current, firstSeq: seq(1) };
    const reading = reader.readBlock(seq(0), { bytesMax: 1e9, entriesMax: 100 });
    const outcome = reading.catch((error: unknown) => error);
    const overwrite = storage.writev(DATA_START_POSITION, [new Uint8Array(4096)]);
    marks.current = { ...marks.current, firstSeq: seq(8) };
    await overwrite;
    expect(await outcome).toMatchObject({ code: 'Trimmed' });
  });
});
