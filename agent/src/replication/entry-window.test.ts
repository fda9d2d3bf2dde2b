// Method: examples of the bounded window: both limits hold, order is enforced, memory is
// reclaimed as the front is dropped, and entries already in the log may exceed the limit.
import { epoch, seq } from '@bunker/proto/ids';
import { AssertionError } from './assert.js';
import { EntryWindow, entryBytes } from './entry-window.js';

const e = (n: number, bytes = 10) => ({ epoch: epoch(1), seq: seq(n), offset: 0, length: bytes, kind: 'write' as const, payload: new Uint8Array(bytes) });

describe('EntryWindow', () => {
  it('holds contiguous entries up to its entry limit', () => {
    const window = new EntryWindow(2, 1_000);
    window.push(e(1));
    window.push(e(2));
    expect(window.hasRoom(e(3))).toBe(false);
    expect(() => window.push(e(3))).toThrow(AssertionError);
    expect(window.range(seq(0), seq(2)).map((x) => x.seq)).toEqual([1, 2]);
    expect(() => window.range(seq(0), seq(3))).toThrow(AssertionError);
  });

  it('holds entries up to its byte limit', () => {
    const window = new EntryWindow(10, entryBytes(e(1, 10)) * 2);
    window.push(e(1));
    window.push(e(2));
    expect(window.hasRoom(e(3))).toBe(false);
    expect(window.byteLength).toBe(entryBytes(e(1)) * 2);
  });

  it('refuses a gap', () => {
    const window = new EntryWindow(10, 1_000);
    window.push(e(1));
    expect(() => window.push(e(3))).toThrow(AssertionError);
  });

  it('drops the front and compacts its storage', () => {
    const window = new EntryWindow(200, 100_000);
    for (let n = 1; n <= 150; n += 1) window.push(e(n));
    window.dropThrough(seq(140));
    expect(window.firstSeq()).toBe(141);
    expect(window.lastSeq()).toBe(150);
    expect(window.length).toBe(10);
    expect(window.get(seq(140))).toBeUndefined();
    expect(window.get(seq(145))?.seq).toBe(145);
    window.clear();
    expect(window.firstSeq()).toBeNull();
    expect(window.lastSeq()).toBeNull();
  });

  it('takes entries already in the log beyond its limit, then refuses new ones until drained', () => {
    const window = new EntryWindow(1, 1_000);
    window.pushAnyway(e(1));
    window.pushAnyway(e(2));
    expect(window.hasRoom(e(3))).toBe(false);
    window.dropThrough(seq(2));
    expect(window.hasRoom(e(3))).toBe(true);
  });

  it('needs positive limits', () => {
    expect(() => new EntryWindow(0, 1)).toThrow(AssertionError);
  });
});
