// What a change log can be told, its defaults, and the checks that keep the limits
// consistent with each other and with the log's size. A bad option is a programmer error
// (RangeError at create/open), not an operating condition.
import type { Epoch, Seq } from '@bunker/proto/ids';
import { ENTRY_ALIGN_BYTES, ENTRY_HEADER_BYTES, recordBytes } from './format.js';
import { parseVolumeUid } from './volume-uid.js';

/** What an append does when the log has no room for it. */
export type FillPolicy =
  /** Return `{ kind: 'tracking' }`: the caller records the write in its change map instead. */
  | { readonly kind: 'trackChanges' }
  /** Wait for a trim to make room, at most `waitMs` once at the head of the queue; then LogFull. */
  | { readonly kind: 'block'; readonly waitMs: number }
  /** Reject with LogFull at once. */
  | { readonly kind: 'fail' };

export interface ChangeLogOptions {
  /** metadata.uid of the ReplicatedVolume; a log of another volume is refused (WrongVolume). */
  readonly volumeUid: string;
  readonly fillPolicy: FillPolicy;
  /** Record bytes admitted to batches and not yet durable; more waits (back-pressure). */
  readonly inflightBytesMax?: number;
  /** Entries admitted to batches and not yet durable; more waits. */
  readonly inflightEntriesMax?: number;
  /**
   * Limits of one batch (one datasync). The defaults (1 MiB, 1024 entries) let a batch take
   * every append that waited, so a slow datasync is shared as widely as possible. The log
   * also splits a group of appenders that came back together in two halves when the device
   * idled between batches for about as long as a datasync (fast devices), so that one half is
   * written while the other syncs (change-log.ts, splitAfterIdle). Lower fixed limits force
   * that split always: a loss when the datasync dominates. docs/log.md and docs/benchmarks.md.
   */
  readonly batchBytesMax?: number;
  readonly batchEntriesMax?: number;
  /** Appends that may wait for room before append rejects with Busy. */
  readonly appendWaitersMax?: number;
  /** Largest payload of one entry. */
  readonly entryBytesMax?: number;
  /** Bytes read at once by recovery, reads and trims. */
  readonly readBlockBytes?: number;
  /** Spacing of the in-memory seq index's checkpoints. */
  readonly indexIntervalBytes?: number;
  /** The applied and durable marks ride along with the superblock at least this often. */
  readonly superblockEveryBatches?: number;
}

export interface ChangeLogCreateOptions extends ChangeLogOptions {
  /** Total size of the log, superblocks included; a multiple of 8. */
  readonly sizeBytes: number;
  /** Tells this log's records from an earlier log's in the same file; random unless given. */
  readonly logId?: number;
  /** The entry the log starts after: its first entry must follow it. Default epoch 0, seq 0. */
  readonly startAfter?: { readonly epoch: Epoch; readonly seq: Seq };
}

export interface ResolvedOptions {
  readonly volumeUid: Uint8Array;
  readonly fillPolicy: FillPolicy;
  readonly inflightBytesMax: number;
  readonly inflightEntriesMax: number;
  readonly batchBytesMax: number;
  readonly batchEntriesMax: number;
  readonly appendWaitersMax: number;
  readonly entryBytesMax: number;
  readonly readBlockBytes: number;
  readonly indexIntervalBytes: number;
  readonly superblockEveryBatches: number;
  /** Largest append, in record bytes: it always fits in an empty log, wrap included. */
  readonly appendBytesMax: number;
}

const MIB = 1024 * 1024;

export function resolveOptions(options: ChangeLogOptions, regionBytes: number): ResolvedOptions {
  const entryBytesMax = positive('entryBytesMax', options.entryBytesMax ?? MIB);
  const inflightBytesMax = positive('inflightBytesMax', options.inflightBytesMax ?? 16 * MIB);
  // An append may have to skip the tail end of the region and put a marker there.
  const appendBytesMax = Math.min(inflightBytesMax, regionBytes - recordBytes(entryBytesMax) - ENTRY_HEADER_BYTES - ENTRY_ALIGN_BYTES);
  if (appendBytesMax < recordBytes(entryBytesMax)) {
    throw new RangeError(`a log region of ${regionBytes} bytes and inflightBytesMax ${inflightBytesMax} cannot hold an entry of entryBytesMax ${entryBytesMax}`);
  }
  if (options.fillPolicy.kind === 'block') positive('fillPolicy.waitMs', options.fillPolicy.waitMs);
  return {
    volumeUid: parseVolumeUid(options.volumeUid),
    fillPolicy: options.fillPolicy,
    inflightBytesMax,
    inflightEntriesMax: positive('inflightEntriesMax', options.inflightEntriesMax ?? 4096),
    batchBytesMax: positive('batchBytesMax', options.batchBytesMax ?? MIB),
    batchEntriesMax: positive('batchEntriesMax', options.batchEntriesMax ?? 1024),
    appendWaitersMax: positive('appendWaitersMax', options.appendWaitersMax ?? 1024),
    entryBytesMax,
    readBlockBytes: positive('readBlockBytes', options.readBlockBytes ?? MIB),
    indexIntervalBytes: positive('indexIntervalBytes', options.indexIntervalBytes ?? 64 * 1024),
    superblockEveryBatches: positive('superblockEveryBatches', options.superblockEveryBatches ?? 64),
    appendBytesMax,
  };
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}
