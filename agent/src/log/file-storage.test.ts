// FileStorage over a real file in the temp directory: create refuses to overwrite, sizes
// and zero-fills; reads are positional and short only at the end; writev writes buffers
// back to back. Temp files are removed afterwards.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULT_POLL_MS, injectedFaults } from '../faults/injected-faults.js';
import { FileStorage } from './file-storage.js';

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bunker-file-storage-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('FileStorage', () => {
  it('creates a zero-filled file of the given size and refuses to create it twice', async () => {
    const path = join(directory, 'a.log');
    const storage = await FileStorage.create(path, 3 * 1024 * 1024 + 5);
    expect(await storage.size()).toBe(3 * 1024 * 1024 + 5);
    expect((await storage.read(3 * 1024 * 1024, 5)).every((byte) => byte === 0)).toBe(true);
    await storage.close();
    await expect(FileStorage.create(path, 10)).rejects.toMatchObject({ code: 'Io', cause: { code: 'EEXIST' } });
  });

  it('writes buffers back to back, reads them at any position, short at the end', async () => {
    const path = join(directory, 'b.log');
    const storage = await FileStorage.create(path, 64, { zeroFill: false });
    await storage.writev(10, [Uint8Array.from([1, 2, 3]), Uint8Array.from([4]), new Uint8Array(0), Uint8Array.from([5, 6])]);
    await storage.datasync();
    expect(Array.from(await storage.read(9, 8))).toEqual([0, 1, 2, 3, 4, 5, 6, 0]);
    expect((await storage.read(60, 10)).length).toBe(4);
    await storage.writev(62, [Uint8Array.from([7, 7, 7, 7])]);
    expect(await storage.size()).toBe(66);
    await storage.close();
    const reopened = await FileStorage.open(path);
    expect(Array.from(await reopened.read(62, 4))).toEqual([7, 7, 7, 7]);
    await reopened.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('goes through the fault injector when it is active, straight to the file otherwise', async () => {
    const storage = await FileStorage.create(join(directory, 'c.log'), 64, { zeroFill: false });
    const plan = join(directory, 'faults.json');
    await writeFile(plan, '{"log":{"errno":"EIO","ops":["write","sync"]}}');
    injectedFaults.follow(plan, () => undefined, () => undefined);
    try {
      await new Promise((resolve) => setTimeout(resolve, FAULT_POLL_MS * 3));
      await expect(storage.writev(0, [Uint8Array.from([1])])).rejects.toMatchObject({ code: 'EIO', syscall: 'pwrite' });
      await expect(storage.datasync()).rejects.toMatchObject({ code: 'EIO', syscall: 'fdatasync' });
    } finally {
      injectedFaults.stop();
    }
    await storage.writev(0, [Uint8Array.from([2])]);
    await storage.datasync();
    expect(Array.from(await storage.read(0, 1))).toEqual([2]);
    await storage.close();
  });

  it('reports a missing file as Io', async () => {
    await expect(FileStorage.open(join(directory, 'missing.log'))).rejects.toMatchObject({ code: 'Io', cause: { code: 'ENOENT' } });
  });
});
