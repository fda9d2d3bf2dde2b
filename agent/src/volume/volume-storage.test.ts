// Method: a replica's files created in a temporary folder on the real file system, then the
// blocks the file system allocated to each file read back with stat.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VolumeShape } from './intent-store.js';
import { logBytesMax } from './volume-replica.js';
import { LOG_ENTRY_BYTES_MAX, openVolumeFiles } from './volume-storage.js';

const MiB = 1024 * 1024;
const shape: VolumeShape = { volume: 'ns/v', volumeUid: '3b0c1f8e-6f1e-4d2a-9c8b-7a6e5d4c3b2a', sizeBytes: 64 * MiB, logBytes: 16 * MiB, fillPolicy: 'fail', regionBytes: 64 * 1024 };

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bunker-volume-storage-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('openVolumeFiles', () => {
  it('allocates the whole change log at creation, so a full file system shows then and not in a group commit', async () => {
    const files = await openVolumeFiles(dir, shape, true);
    try {
      const log = await stat(join(dir, 'change.log'));
      expect(log.size).toBe(shape.logBytes);
      expect(log.blocks * 512).toBeGreaterThanOrEqual(shape.logBytes);
      // The data file stays sparse: only what is written takes room.
      const data = await stat(join(dir, 'data.img'));
      expect(data.size).toBe(shape.sizeBytes);
      expect(data.blocks * 512).toBeLessThan(shape.sizeBytes);
    } finally {
      await files.log.close();
      await files.staging?.close();
      await files.data?.close();
      await files.changeMap.close();
    }
  });
});

describe('logBytesMax', () => {
  it('keeps one largest record and some headers of the data region free, for the space a wrap skips', () => {
    const max = logBytesMax(64 * MiB);
    expect(max).toBeLessThan(64 * MiB - LOG_ENTRY_BYTES_MAX);
    expect(max).toBeGreaterThan(64 * MiB - LOG_ENTRY_BYTES_MAX - 64 * 1024);
  });

  it('keeps half the region of a log too small for that reserve', () => {
    expect(logBytesMax(4 * MiB)).toBeGreaterThan(MiB);
    expect(logBytesMax(4 * MiB)).toBeLessThan(2 * MiB);
  });
});
