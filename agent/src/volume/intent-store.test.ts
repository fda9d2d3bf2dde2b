// The persisted intent round-trips, survives as old-or-new across a crash mid-save (the temp
// file never replaces the intent half-written), and a damaged file is a typed error.
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntentStore, IntentError, type VolumeIntent } from './intent-store.js';

const intent: VolumeIntent = {
  volume: 'default/db', epoch: 3, role: 'primary', sizeBytes: 1 << 20, logBytes: 1 << 24,
  recovery: 'sync', secondaryMode: 'async', fillPolicy: 'trackChanges', changeMapRegionBytes: 65536,
  bunker: { node: 'site-b', address: '127.0.0.1:7002' },
};

describe('IntentStore', () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'intent-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('round-trips and lists intents', async () => {
    const store = new IntentStore(dir);
    await store.save(intent);
    expect(await store.load('default/db')).toEqual(intent);
    expect(await store.loadAll()).toEqual([intent]);
    expect(await store.load('default/other')).toBeUndefined();
  });

  it('keeps the last complete intent when a save was cut short', async () => {
    const store = new IntentStore(dir);
    await store.save(intent);
    await writeFile(join(store.volumeDir('default/db'), 'intent.json.tmp'), '{"volume": "default/db", "epo');
    expect(await store.load('default/db')).toEqual(intent);
    expect(await readdir(store.volumeDir('default/db'))).toContain('intent.json');
  });

  it('reports a damaged intent as a typed Corrupt error naming the file', async () => {
    const store = new IntentStore(dir);
    await store.save(intent);
    await writeFile(join(store.volumeDir('default/db'), 'intent.json'), '{"volume":"default/db","epoch":-1}');
    await expect(store.load('default/db')).rejects.toThrow(IntentError);
    await expect(store.load('default/db')).rejects.toMatchObject({ code: 'Corrupt' });
  });
});
