// A commit batch lays records out from the head: contiguous buffers in one segment, a wrap
// marker and a second segment when it wraps, padding to 8 bytes, and the index notes.
import { epoch, seq } from '@bunker/proto/ids';
import { CommitBatch, type PendingAppend } from './commit-batch.js';
import { deferred } from './deferred.js';
import type { Entry } from './entry.js';
import { DATA_START_POSITION, decodeHeader, encodeHeader, ENTRY_HEADER_BYTES, headerOf, recordBytes } from './format.js';
import { layoutFor } from './log-space.js';
import { makeEntry } from './testing/log-fixtures.js';

const layout = layoutFor(DATA_START_POSITION + 4096);

function pending(entries: readonly Entry[]): PendingAppend {
  const records = entries.map((entry) => ({
    header: encodeHeader(headerOf(entry, 3, 1), entry.payload),
    payload: entry.payload,
    bytes: recordBytes(entry.payload.length),
    link: { epoch: entry.epoch, seq: entry.seq, session: 1 },
  }));
  return { records, bytes: records.reduce((sum, record) => sum + record.bytes, 0), lastSeq: entries.at(-1)?.seq ?? seq(0), done: deferred() };
}

describe('CommitBatch', () => {
  it('lays contiguous records out in one segment, padded to 8 bytes', () => {
    const start = { position: DATA_START_POSITION, prev: { epoch: epoch(1), seq: seq(0), session: 1 } };
    const batch = new CommitBatch(layout, start, 3);
    batch.add(pending([makeEntry(1, 1, 5), makeEntry(2, 1, 0, 'flush')]));
    batch.add(pending([makeEntry(3, 1, 16)]));
    expect(batch.segments.length).toBe(1);
    const [segment] = batch.segments;
    expect(segment?.position).toBe(DATA_START_POSITION);
    expect(segment?.bytes).toBe(72 + 64 + 80);
    expect(segment?.buffers.reduce((sum, buffer) => sum + buffer.length, 0)).toBe(segment?.bytes);
    expect([batch.entries, batch.bytes, batch.end.position]).toEqual([3, 216, DATA_START_POSITION + 216]);
    expect(batch.notes.map((note) => [note.seq, note.point.position])).toEqual([[1, DATA_START_POSITION], [2, DATA_START_POSITION + 72], [3, DATA_START_POSITION + 136]]);
  });

  it('writes a wrap marker and starts a second segment at the start of the region', () => {
    const head = { position: layout.end - 300, prev: { epoch: epoch(2), seq: seq(9), session: 1 } };
    const batch = new CommitBatch(layout, head, 3);
    const append = pending([makeEntry(10, 2, 100), makeEntry(11, 2, 100)]);
    expect(batch.consumption(append)).toBe(300 + recordBytes(100));
    batch.add(append);
    expect(batch.segments.map((segment) => [segment.position, segment.bytes])).toEqual([
      [layout.end - 300, recordBytes(100) + ENTRY_HEADER_BYTES],
      [DATA_START_POSITION, recordBytes(100)],
    ]);
    const marker = batch.segments[0]?.buffers.at(-1) ?? new Uint8Array(0);
    const decoded = decodeHeader(marker, 1 << 20);
    expect(decoded).toMatchObject({ header: { kind: 'wrap', epoch: 2, seq: 10 } });
  });
});
