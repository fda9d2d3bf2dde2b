// Method: the estimate checked against hand-computed byte counts, including the cases where it
// must stay high (a record counted before and after a report) and where a report goes down
// (a cut log, a trim).
import { seq } from '@bunker/proto/ids';
import { ENTRY_HEADER_BYTES } from '../log/format.js';
import { LogRoom, recordBytes } from './log-room.js';

const record = (seqNumber: number, bytes = 4096): { seq: ReturnType<typeof seq>; payload: Uint8Array } => ({ seq: seq(seqNumber), payload: new Uint8Array(bytes) });
const R = ENTRY_HEADER_BYTES + 4096;

describe('LogRoom', () => {
  it('counts a record as the log does: its header and payload', () => {
    expect(recordBytes(record(1))).toBe(R);
    expect(recordBytes(record(1, 0))).toBe(ENTRY_HEADER_BYTES);
  });

  it('admits records while the reported use and the records handed out since fit', () => {
    const room = new LogRoom(3 * R, 0, seq(0));
    for (const n of [1, 2, 3]) {
      expect(room.fits(record(n))).toBe(true);
      room.take(record(n));
    }
    expect(room.usedBytes).toBe(3 * R);
    expect(room.fits(record(4))).toBe(false);
    expect(room.fits(record(4, 0))).toBe(false);
  });

  it('replaces handed-out records by the measured use once a report covers them', () => {
    const room = new LogRoom(3 * R, 0, seq(0));
    for (const n of [1, 2, 3]) room.take(record(n));
    // The log made 1 and 2 durable and measured them (a wrap made it use more than 2 records).
    room.report(2 * R + 100, seq(2));
    expect(room.usedBytes).toBe(2 * R + 100 + R);
    // A trim freed 1 and 2.
    room.report(R, seq(3));
    expect(room.usedBytes).toBe(R);
    expect(room.fits(record(4))).toBe(true);
  });

  it('stays high, never low, when a measurement already holds records it still counts', () => {
    const room = new LogRoom(10 * R, 0, seq(0));
    room.take(record(1));
    room.take(record(2));
    // Measured while 2 was written but reported durable through 1 only.
    room.report(2 * R, seq(1));
    expect(room.usedBytes).toBe(3 * R);
  });

  it('takes a lower report as measured: a cut log holds less', () => {
    const room = new LogRoom(10 * R, 5 * R, seq(5));
    room.report(2 * R, seq(2));
    expect(room.usedBytes).toBe(2 * R);
    room.take(record(3));
    expect(room.usedBytes).toBe(3 * R);
  });

  it('on a new writer counts exactly the records above the durable mark', () => {
    const room = new LogRoom(10 * R, R, seq(1));
    room.take(record(2));
    room.restart(seq(1), [record(2), record(3)]);
    expect(room.usedBytes).toBe(3 * R);
  });

  it('has no bound with an infinite capacity', () => {
    const room = new LogRoom(Number.POSITIVE_INFINITY, 0, seq(0));
    for (let n = 1; n <= 10_000; n += 1) room.take(record(n));
    expect(room.fits(record(10_001, 4 * 1024 * 1024))).toBe(true);
  });
});
