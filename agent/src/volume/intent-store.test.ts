// The persisted volume record round-trips, survives as old-or-new across a crash mid-save
// (the temp file never replaces the record half-written), and a damaged file is a typed error.
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Epoch, NodeName } from '@bunker/proto/ids';
import { IntentStore, IntentError, type VolumeRecord } from './intent-store.js';

const record: VolumeRecord = {
  shape: { volume: 'default/db', volumeUid: '6f1c8a3e-0f5e-4b53-9d7a-3a1f2b4c5d6e', sizeBytes: 1 << 20, logBytes: 1 << 24, fillPolicy: 'trackChanges', regionBytes: 65536 },
  addresses: { 'site-b': '127.0.0.1:7002' },
  intent: {
    role: 'primary', epoch: 3 as Epoch, modes: { recovery: 'sync', secondary: 'async' },
    primary: null, bunker: 'site-b' as NodeName, secondary: null, drain: null, divergenceSeq: null,
  },
};

describe('IntentStore', () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'intent-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('round-trips and lists records, and counts incarnations', async () => {
    const store = new IntentStore(dir);
    await store.save(record);
    expect(await store.load('default/db')).toEqual(record);
    expect(await store.loadAll()).toEqual([record]);
    expect(await store.load('default/other')).toBeUndefined();
    expect(await store.nextIncarnation('default/db')).toBe(1);
    expect(await store.nextIncarnation('default/db')).toBe(2);
  });

  it('does not list a retired (released, data kept) volume, and a new save brings it back', async () => {
    const store = new IntentStore(dir);
    await store.save(record);
    await store.retire('default/db');
    expect(await store.loadAll()).toEqual([]);
    expect(await readdir(store.volumeDir('default/db'))).toContain('volume.released.json');
    await store.retire('default/never-held');
    await store.save(record);
    expect(await store.loadAll()).toEqual([record]);
  });

  it('keeps the last complete record when a save was cut short', async () => {
    const store = new IntentStore(dir);
    await store.save(record);
    await writeFile(join(store.volumeDir('default/db'), 'volume.json.tmp'), '{"shape": {"volume": "default/db", "epo');
    expect(await store.load('default/db')).toEqual(record);
    expect(await readdir(store.volumeDir('default/db'))).toContain('volume.json');
  });

  it.each([
    ['not JSON', '{"shape":'],
    ['a negative epoch', JSON.stringify({ ...record, intent: { ...record.intent, epoch: -1 } })],
    ['an unknown role', JSON.stringify({ ...record, intent: { ...record.intent, role: 'leader' } })],
    ['a missing shape', JSON.stringify({ addresses: {}, intent: record.intent })],
  ])('reports %s as a typed Corrupt error naming the file', async (_what, text) => {
    const store = new IntentStore(dir);
    await store.save(record);
    await writeFile(join(store.volumeDir('default/db'), 'volume.json'), text);
    await expect(store.load('default/db')).rejects.toThrow(IntentError);
    await expect(store.load('default/db')).rejects.toMatchObject({ code: 'Corrupt', message: expect.stringContaining('volume.json') });
  });
});
