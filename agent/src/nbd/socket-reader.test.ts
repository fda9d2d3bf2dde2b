// Checks the exact-length reader: messages split over chunks or packed into one, zero-copy when
// one chunk holds the message, the stream ending between messages (clean) or inside one
// (truncated, with the count received), discarding a payload, and, as a regression test, that a
// read larger than the stream's high-water mark waits without spinning the event loop. Method: a
// PassThrough stream stands in for the socket; chunks are pushed by the test.
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { SocketReader } from './socket-reader.js';

describe('SocketReader', () => {
  it('assembles a message from several chunks and splits a chunk holding several messages', async () => {
    const stream = new PassThrough();
    const reader = new SocketReader(stream);
    const pending = reader.read(6);
    stream.write(Buffer.from([1, 2]));
    stream.write(Buffer.from([3, 4, 5, 6, 7, 8]));
    expect(await pending).toEqual({ kind: 'bytes', bytes: Buffer.from([1, 2, 3, 4, 5, 6]) });
    expect(await reader.read(2)).toEqual({ kind: 'bytes', bytes: Buffer.from([7, 8]) });
  });

  it('returns a view without copying when one chunk holds the whole message', async () => {
    const stream = new PassThrough();
    const reader = new SocketReader(stream);
    const chunk = Buffer.from([9, 8, 7, 6]);
    stream.write(chunk);
    const result = await reader.read(2);
    expect(result.kind === 'bytes' && result.bytes.buffer).toBe(chunk.buffer);
  });

  it('reports a clean end between messages and a truncated one inside a message', async () => {
    const clean = new PassThrough();
    const cleanReader = new SocketReader(clean);
    clean.end();
    expect(await cleanReader.read(4)).toEqual({ kind: 'end', receivedBytes: 0 });

    const cut = new PassThrough();
    const cutReader = new SocketReader(cut);
    cut.end(Buffer.from([1, 2, 3]));
    expect(await cutReader.read(28)).toEqual({ kind: 'end', receivedBytes: 3 });
  });

  it('reports an end when the stream is destroyed while a read waits', async () => {
    const stream = new PassThrough();
    const reader = new SocketReader(stream);
    const pending = reader.read(4);
    stream.destroy();
    expect((await pending).kind).toBe('end');
  });

  it('skips a payload piece by piece and then reads what follows', async () => {
    const stream = new PassThrough();
    const reader = new SocketReader(stream);
    stream.write(Buffer.alloc(200_000, 1));
    stream.write(Buffer.from([42]));
    expect(await reader.skip(200_000)).toBe(true);
    expect(await reader.read(1)).toEqual({ kind: 'bytes', bytes: Buffer.from([42]) });
  });

  it('waits for a read above the high-water mark without starving timers (regression: nextTick spin)', async () => {
    const stream = new PassThrough({ highWaterMark: 1024 });
    const reader = new SocketReader(stream);
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 1);
    stream.write(Buffer.alloc(2048, 3));
    const pending = reader.read(64 * 1024);
    await sleep(30);
    expect(ticks).toBeGreaterThan(0);
    stream.write(Buffer.alloc(64 * 1024 - 2048, 3));
    const result = await pending;
    clearInterval(timer);
    expect(result.kind === 'bytes' && result.bytes.length).toBe(64 * 1024);
  });

  it('refuses a second read while one is pending (a programmer error)', async () => {
    const stream = new PassThrough();
    const reader = new SocketReader(stream);
    const first = reader.read(1);
    await expect(reader.read(1)).rejects.toThrow('another read is pending');
    stream.end(Buffer.from([1]));
    await first;
  });
});
