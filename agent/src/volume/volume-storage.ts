// The files behind one replica of a volume, in its folder: the change log (the bunker's log
// copy), the staging log (a takeover drain's landing place), the data volume and the change
// map. Opened after a crash, the logs recover themselves (torn tails cut) and report the
// state the replication core restarts from.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Epoch, Seq } from '@bunker/proto/ids';
import { ChangeLog, type FillPolicy } from '../log/change-log.js';
import { ChangeMap as LogChangeMap } from '../log/change-map.js';
import type { Entry } from '../log/entry.js';
import { FileStorage } from '../log/file-storage.js';
import { DataVolume } from './data-volume.js';
import type { VolumeShape } from './intent-store.js';

const LOG_FILE = 'change.log';
const STAGING_FILE = 'staging.log';
const DATA_FILE = 'data.img';
const MAP_FILE = 'change.map';
/** The staging log holds one drain block at a time plus slack. */
const STAGING_LOG_BYTES = 16 * 1024 * 1024;
/**
 * fillPolicy block: how long a write waits for room in a full change log before it fails
 * with ENOSPC (the log's own wait, and the NBD front end's when the core refuses a write).
 */
export const LOG_FULL_WAIT_MS = 30_000;
/** The largest record a change log takes: a 4 MiB NBD write, the protocol maximum we advertise. */
export const LOG_ENTRY_BYTES_MAX = 4 * 1024 * 1024;

export interface VolumeFiles {
  readonly log: ChangeLog;
  readonly staging: ChangeLog | null;
  readonly data: DataVolume | null;
  readonly changeMap: LogChangeMap;
  readonly incomplete: Entry[];
  /** The data file did not exist and was created empty while the log already held history. */
  readonly dataReplaced: boolean;
}

function fillPolicy(shape: VolumeShape): FillPolicy {
  switch (shape.fillPolicy) {
    case 'trackChanges': return { kind: 'trackChanges' };
    case 'block': return { kind: 'block', waitMs: LOG_FULL_WAIT_MS };
    case 'fail': return { kind: 'fail' };
  }
}

async function openOrCreateLog(path: string, shape: VolumeShape, sizeBytes: number, startAfter?: { epoch: Epoch; seq: Seq }): Promise<ChangeLog> {
  const options = { volumeUid: shape.volumeUid, fillPolicy: fillPolicy(shape), entryBytesMax: LOG_ENTRY_BYTES_MAX, inflightBytesMax: 32 * 1024 * 1024 };
  if (existsSync(path)) return ChangeLog.open(await FileStorage.open(path), options);
  // Written full of zeros at creation, not sparse: a file system without room says so here,
  // when the volume is configured, and never later in the middle of a group commit (on file
  // systems that overwrite in place, as ext4 and xfs do).
  return ChangeLog.create(await FileStorage.create(path, sizeBytes, { zeroFill: true }), { ...options, sizeBytes, ...(startAfter === undefined ? {} : { startAfter }) });
}

export async function openVolumeFiles(dir: string, shape: VolumeShape, keepsData: boolean): Promise<VolumeFiles> {
  const log = await openOrCreateLog(join(dir, LOG_FILE), shape, shape.logBytes);
  const staging = keepsData ? await openOrCreateLog(join(dir, STAGING_FILE), shape, STAGING_LOG_BYTES) : null;
  const dataPath = join(dir, DATA_FILE);
  const dataReplaced = keepsData && !existsSync(dataPath) && (log.durableSeq > 0 || log.epoch > 0);
  const data = keepsData ? await DataVolume.open(dataPath, shape.sizeBytes) : null;
  const mapPath = join(dir, MAP_FILE);
  const changeMap = existsSync(mapPath)
    ? await LogChangeMap.open(await FileStorage.open(mapPath), { volumeUid: shape.volumeUid })
    : await LogChangeMap.create(await FileStorage.create(mapPath, 0, { zeroFill: false }), {
      volumeUid: shape.volumeUid, volumeBytes: shape.sizeBytes, granularityBytes: shape.regionBytes,
    });
  const incomplete: Entry[] = [];
  if (keepsData) {
    for await (const block of log.incomplete({ entriesMax: 256, bytesMax: 8 * 1024 * 1024 })) incomplete.push(...block);
  }
  return { log, staging, data, changeMap, incomplete, dataReplaced };
}

/** A replaced log: everything in it is gone, the next entry follows `after`. */
export async function recreateLog(dir: string, shape: VolumeShape, old: ChangeLog, after: { epoch: Epoch; seq: Seq }, staging = false): Promise<ChangeLog> {
  await old.close();
  const path = join(dir, staging ? STAGING_FILE : LOG_FILE);
  await rm(path, { force: true });
  return openOrCreateLog(path, shape, staging ? STAGING_LOG_BYTES : shape.logBytes, after);
}

export async function removeVolumeFiles(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
