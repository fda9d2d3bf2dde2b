// Checks the file-backed device: sparse creation, positional reads and writes, write-zeroes over
// more than one zero chunk, trim as a documented no-op, bounds and size checks, flush coalescing
// (concurrent FUA writes share fdatasync calls) and the refusal of all writes after a failed
// fdatasync. Method: a real file in a temporary folder; fdatasync is counted, or made to fail,
// by spying on the FileHandle prototype.
import { jest } from '@jest/globals';
import { mkdtemp, open, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BunkerError } from '@bunker/proto/bunker-error';
import { FileBlockDevice } from './file-block-device.js';

const MiB = 1024 * 1024;
let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bunker-file-device-'));
});

afterEach(async () => {
  jest.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

/** The FileHandle prototype, whose methods the device calls; spying on it reaches every handle. */
async function fileHandlePrototype(): Promise<FileHandle> {
  const probe = await open(join(dir, 'probe'), 'w');
  await probe.close();
  const prototype: unknown = Object.getPrototypeOf(probe);
  if (!isFileHandleLike(prototype)) throw new Error('unexpected FileHandle prototype');
  return prototype;
}

function isFileHandleLike(value: unknown): value is FileHandle {
  return typeof value === 'object' && value !== null && 'datasync' in value && 'write' in value;
}

async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 1) {
    if (waited > 1_000) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function codeOf(error: unknown): string | undefined {
  return BunkerError.is(error) ? error.code : undefined;
}

describe('FileBlockDevice', () => {
  it('creates a sparse file of the requested size with default block constraints', async () => {
    const device = await FileBlockDevice.open({ path: join(dir, 'v.img'), sizeBytes: 64 * MiB });
    const info = await stat(join(dir, 'v.img'));
    expect(info.size).toBe(64 * MiB);
    expect(info.blocks * 512).toBeLessThan(MiB); // sparse: nothing allocated yet
    expect([device.minimumBlockBytes, device.preferredBlockBytes, device.maximumPayloadBytes]).toEqual([512, 4096, 32 * MiB]);
    expect(device.flushCoversAllWrites).toBe(true);
    await device.close();
  });

  it('reads back what was written, and zeroes where nothing was', async () => {
    const device = await FileBlockDevice.open({ path: join(dir, 'v.img'), sizeBytes: MiB });
    const data = Buffer.alloc(8192, 0xab);
    await device.write(4096, data, { fua: false });
    expect(Buffer.from(await device.read(4096, 8192)).equals(data)).toBe(true);
    expect(Buffer.from(await device.read(0, 4096)).every((byte) => byte === 0)).toBe(true);
    await device.close();
  });

  it('writes zeroes across more than one internal zero chunk, and leaves the neighbours alone', async () => {
    const device = await FileBlockDevice.open({ path: join(dir, 'v.img'), sizeBytes: 4 * MiB });
    await device.write(0, Buffer.alloc(4 * MiB, 0x5a), { fua: false });
    await device.writeZeroes(512, 3 * MiB, { fua: true, noHole: true });
    const after = Buffer.from(await device.read(0, 4 * MiB));
    expect(after.subarray(0, 512).every((byte) => byte === 0x5a)).toBe(true);
    expect(after.subarray(512, 512 + 3 * MiB).every((byte) => byte === 0)).toBe(true);
    expect(after.subarray(512 + 3 * MiB).every((byte) => byte === 0x5a)).toBe(true);
    await device.close();
  });

  it('treats trim as a no-op: the data stays (the spec leaves trimmed contents undefined)', async () => {
    const device = await FileBlockDevice.open({ path: join(dir, 'v.img'), sizeBytes: MiB });
    await device.write(0, Buffer.alloc(4096, 1), { fua: false });
    await device.trim(0, 4096, { fua: true });
    expect(Buffer.from(await device.read(0, 4096)).every((byte) => byte === 1)).toBe(true);
    await device.close();
  });

  it('refuses ranges outside the device with out-of-range', async () => {
    const device = await FileBlockDevice.open({ path: join(dir, 'v.img'), sizeBytes: MiB });
    await expect(device.read(MiB - 512, 1024)).rejects.toMatchObject({ code: 'out-of-range' });
    await expect(device.write(MiB, Buffer.alloc(1), { fua: false })).rejects.toMatchObject({ code: 'out-of-range' });
    await expect(device.writeZeroes(-512, 512, { fua: false, noHole: false })).rejects.toMatchObject({ code: 'out-of-range' });
    await device.close();
  });

  it('keeps an existing file and its size, refuses to hide data past a smaller size, extends a shorter one', async () => {
    const path = join(dir, 'v.img');
    await writeFile(path, Buffer.alloc(8192, 7));
    const kept = await FileBlockDevice.open({ path });
    expect(kept.sizeBytes).toBe(8192);
    await kept.close();
    await expect(FileBlockDevice.open({ path, sizeBytes: 4096 })).rejects.toMatchObject({ code: 'invalid-request' });
    const grown = await FileBlockDevice.open({ path, sizeBytes: MiB });
    expect(Buffer.from(await grown.read(0, 8192)).every((byte) => byte === 7)).toBe(true);
    await grown.close();
  });

  it('answers calls after close with shutting-down', async () => {
    const device = await FileBlockDevice.open({ path: join(dir, 'v.img'), sizeBytes: MiB });
    await device.close();
    await expect(device.read(0, 512)).rejects.toMatchObject({ code: 'shutting-down' });
    await expect(device.flush()).rejects.toMatchObject({ code: 'shutting-down' });
  });

  it('shares fdatasync calls: flushes called during a sync all wait for, and share, the next one', async () => {
    // FUA writes take the same path: write, then flush().
    const prototype = await fileHandlePrototype();
    const device = await FileBlockDevice.open({ path: join(dir, 'v.img'), sizeBytes: MiB });
    const releases: (() => void)[] = [];
    const datasync = jest.spyOn(prototype, 'datasync').mockImplementation(() => new Promise<void>((resolve) => releases.push(resolve)));
    const settled: string[] = [];
    const first = device.flush().then(() => settled.push('first'));
    await device.write(0, Buffer.alloc(4096, 1), { fua: false });
    // Called while the first sync runs, which may have started before this write completed.
    const later = Array.from({ length: 10 }, (_, index) => device.flush().then(() => settled.push(`later-${index}`)));
    await until(() => releases.length === 1);
    releases.shift()?.();
    await first;
    expect(settled).toEqual(['first']); // the later ones did not ride on a sync that began before them
    await until(() => releases.length === 1);
    releases.shift()?.();
    await Promise.all(later);
    expect(datasync).toHaveBeenCalledTimes(2);
    expect(settled).toHaveLength(11);
    jest.restoreAllMocks();
    await device.close();
  });

  it('refuses every write and flush after a failed fdatasync (its pages may be gone)', async () => {
    const prototype = await fileHandlePrototype();
    const device = await FileBlockDevice.open({ path: join(dir, 'v.img'), sizeBytes: MiB });
    jest.spyOn(prototype, 'datasync').mockRejectedValueOnce(Object.assign(new Error('EIO'), { code: 'EIO' }));
    const failed = await device.write(0, Buffer.alloc(512, 1), { fua: true }).catch((error: unknown) => error);
    expect(codeOf(failed)).toBe('io-error');
    await expect(device.flush()).rejects.toMatchObject({ code: 'io-error' });
    await expect(device.write(512, Buffer.alloc(512), { fua: false })).rejects.toMatchObject({ code: 'io-error' });
    expect((await device.read(0, 512)).length).toBe(512); // reads still work
    await device.close();
  });

  it('classifies a full disk by its system code as no-space', async () => {
    const prototype = await fileHandlePrototype();
    const device = await FileBlockDevice.open({ path: join(dir, 'v.img'), sizeBytes: MiB });
    jest.spyOn(prototype, 'write').mockRejectedValueOnce(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }));
    await expect(device.write(0, Buffer.alloc(512), { fua: false })).rejects.toMatchObject({ code: 'no-space' });
    await device.close();
  });
});
