// Method: a data volume on a real file in a temporary folder; what it holds is read back with
// node:fs directly. The synchronous and the thread-pool paths must leave the same bytes.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Epoch, Seq } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { SyncIoGate } from '../io/sync-io-gate.js';
import { DataVolume, SYNC_APPLY_BYTES_MAX, SYNC_READ_BYTES_MAX } from './data-volume.js';

const MiB = 1024 * 1024;
let dir: string;
let seq = 0;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bunker-data-volume-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function write(offset: number, payload: Uint8Array): Entry {
  seq += 1;
  return { kind: 'write', seq: seq as Seq, epoch: 1 as Epoch, offset, length: payload.length, payload };
}

function trim(offset: number, length: number): Entry {
  seq += 1;
  return { kind: 'trim', seq: seq as Seq, epoch: 1 as Epoch, offset, length, payload: new Uint8Array(0) };
}

function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i += 1) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

/** A gate closed for good: three slow operations on a clock that then stands still. */
function closedGate(): SyncIoGate {
  let at = 0;
  const gate = new SyncIoGate({ kind: 'data-write', slowMs: 0.1, closedMs: 1_000, now: () => at });
  for (let i = 0; i < 3; i += 1) gate.run(() => { at += 1; });
  if (gate.open) throw new Error('the test gate did not close');
  return gate;
}

describe('DataVolume.applyAll', () => {
  it('applies small writes synchronously: the bytes are in the file before it returns', async () => {
    const path = join(dir, 'data.img');
    const volume = await DataVolume.open(path, 8 * MiB);
    try {
      const a = pattern(4096, 1);
      const b = pattern(SYNC_APPLY_BYTES_MAX, 2);
      expect(volume.applyAll([write(0, a), write(MiB, b), write(4096, a)])).toBeNull();
      const file = readFileSync(path);
      expect(file.subarray(0, 4096).equals(a)).toBe(true);
      expect(file.subarray(4096, 8192).equals(a)).toBe(true);
      expect(file.subarray(MiB, MiB + b.length).equals(b)).toBe(true);
    } finally {
      await volume.close();
    }
  });

  it('hands a large write, a trim and everything after them to the thread pool, in order', async () => {
    const path = join(dir, 'data.img');
    const volume = await DataVolume.open(path, 8 * MiB);
    try {
      const large = pattern(SYNC_APPLY_BYTES_MAX + 4096, 3);
      const small = pattern(4096, 4);
      // The trim zeroes what the first write put there; the last write lands after it.
      const pending = volume.applyAll([write(0, small), write(MiB, large), trim(0, 8192), write(4096, small)]);
      expect(pending).not.toBeNull();
      await pending;
      const file = readFileSync(path);
      expect(file.subarray(0, 4096).equals(Buffer.alloc(4096))).toBe(true);
      expect(file.subarray(4096, 8192).equals(small)).toBe(true);
      expect(file.subarray(MiB, MiB + large.length).equals(large)).toBe(true);
    } finally {
      await volume.close();
    }
  });

  it('uses the thread pool while its write gate is closed, with the same result', async () => {
    const path = join(dir, 'data.img');
    const volume = await DataVolume.open(path, 8 * MiB, { write: closedGate() });
    try {
      const a = pattern(4096, 5);
      const pending = volume.applyAll([write(8192, a)]);
      expect(pending).not.toBeNull();
      await pending;
      expect(readFileSync(path).subarray(8192, 12288).equals(a)).toBe(true);
    } finally {
      await volume.close();
    }
  });

  it('refuses a write outside the volume without touching the file', async () => {
    const volume = await DataVolume.open(join(dir, 'data.img'), MiB);
    try {
      expect(() => volume.applyAll([write(MiB - 2048, pattern(4096, 6))])).toThrow(/outside the volume/);
      expect(volume.failed).toBeUndefined();
    } finally {
      await volume.close();
    }
  });
});

describe('DataVolume.read', () => {
  it('reads the same bytes synchronously, through the thread pool, and across sizes', async () => {
    const path = join(dir, 'data.img');
    const written = pattern(2 * MiB, 7);
    const open = await DataVolume.open(path, 4 * MiB);
    await open.write(0, written);
    await open.close();
    for (const gates of [{}, { read: closedGate() }]) {
      const volume = await DataVolume.open(path, 4 * MiB, gates);
      try {
        for (const [offset, length] of [[0, 4096], [12288, SYNC_READ_BYTES_MAX], [4096, SYNC_READ_BYTES_MAX + 4096], [MiB, MiB]] as const) {
          expect((await volume.read(offset, length)).equals(written.subarray(offset, offset + length))).toBe(true);
        }
        // Never written: zeroes.
        expect((await volume.read(3 * MiB, 8192)).equals(Buffer.alloc(8192))).toBe(true);
      } finally {
        await volume.close();
      }
    }
  });

  it('fails the volume, and keeps it failed, when a synchronous read fails', async () => {
    const volume = await DataVolume.open(join(dir, 'data.img'), MiB);
    await volume.close();
    await expect(volume.read(0, 4096)).rejects.toMatchObject({ code: 'DataFailed' });
    expect(volume.failed?.message).toMatch(/read failed/);
    await expect(volume.read(0, 4096)).rejects.toMatchObject({ code: 'DataFailed' });
  });
});
