// Opening a log: pick the newest valid superblock copy, check the log is this volume's,
// then walk forward from the recorded tail and stop at the first record that does not
// follow (scan.ts). Whatever lies beyond is a torn or stale tail: it is cut, never
// returned, and the next session's records overwrite it. Refused with a typed error:
// no valid superblock copy, another volume's log, a file shorter than its recorded size,
// and a walk that ends before the durable sequence a superblock recorded (entries that
// were acknowledged are gone; cutting there would hide the loss).
import { LogError, ioError } from './errors.js';
import { layoutFor, regionBytes, type Layout } from './log-space.js';
import { Scanner, type ScanPoint, type StopReason } from './scan.js';
import { SeqIndex } from './seq-index.js';
import { chooseSuperblock, decodeSuperblock, slotPosition, SUPERBLOCK_BYTES, type Superblock } from './superblock.js';
import type { Storage } from './storage.js';
import { formatVolumeUid, sameVolumeUid } from './volume-uid.js';

export interface RecoveryOptions {
  readonly volumeUid: Uint8Array;
  readonly readBlockBytes: number;
  readonly indexIntervalBytes: number;
}

/** What recovery found; `stop` says why the walk ended (normally 'magic' or 'chain'). */
export interface RecoveryReport {
  readonly entries: number;
  readonly stop: { readonly reason: StopReason; readonly position: number };
  /** Superblock generation recovery started from. */
  readonly generation: number;
}

export interface Recovered {
  readonly superblock: Superblock;
  readonly generations: readonly [number, number];
  readonly layout: Layout;
  readonly tail: ScanPoint;
  readonly end: ScanPoint;
  readonly index: SeqIndex;
  /** Highest session seen in the superblock or any record. */
  readonly lastSession: number;
  readonly report: RecoveryReport;
}

export async function readSuperblock(storage: Storage, volumeUid: Uint8Array): Promise<{
  readonly superblock: Superblock;
  readonly generations: readonly [number, number];
}> {
  const [a, b] = await Promise.all([storage.read(slotPosition(0), SUPERBLOCK_BYTES), storage.read(slotPosition(1), SUPERBLOCK_BYTES)]);
  const copyA = decodeSuperblock(a);
  const copyB = decodeSuperblock(b);
  const chosen = chooseSuperblock([copyA, copyB]);
  if (chosen === undefined) {
    const problems = [copyA, copyB].map((copy) => ('problem' in copy ? copy.problem : 'valid'));
    throw new LogError('Corrupt', `no valid superblock copy (A: ${problems[0]}; B: ${problems[1]})`);
  }
  const superblock = chosen.superblock;
  if (!sameVolumeUid(superblock.volumeUid, volumeUid)) {
    throw new LogError('WrongVolume', `log belongs to volume ${formatVolumeUid(superblock.volumeUid)}, not ${formatVolumeUid(volumeUid)}`);
  }
  const generations: [number, number] = chosen.slot === 0
    ? [superblock.generation, chosen.otherGeneration]
    : [chosen.otherGeneration, superblock.generation];
  return { superblock, generations };
}

export async function recover(storage: Storage, options: RecoveryOptions): Promise<Recovered> {
  try {
    const { superblock, generations } = await readSuperblock(storage, options.volumeUid);
    const size = await storage.size();
    if (size < superblock.sizeBytes) {
      throw new LogError('Corrupt', `log is ${size} bytes but its superblock records ${superblock.sizeBytes}: truncated`);
    }
    const layout = layoutFor(superblock.sizeBytes);
    const tail: ScanPoint = {
      position: superblock.tail,
      prev: { epoch: superblock.anchorEpoch, seq: superblock.anchorSeq, session: 0 },
    };
    return await walk(storage, options, { superblock, generations, layout, tail });
  } catch (error) {
    throw ioError('recovering the log', error);
  }
}

async function walk(
  storage: Storage,
  options: RecoveryOptions,
  found: Pick<Recovered, 'superblock' | 'generations' | 'layout' | 'tail'>,
): Promise<Recovered> {
  const { superblock, layout, tail } = found;
  const index = new SeqIndex(regionBytes(layout), options.indexIntervalBytes);
  const scanner = new Scanner(storage, layout, { logId: superblock.logId, readBlockBytes: options.readBlockBytes, verifyPayload: true }, tail);
  let entries = 0;
  let lastSession = superblock.session;
  for (let record = await scanner.next(); record !== undefined; record = await scanner.next()) {
    index.note(record.at, record.header.seq, record.bytes);
    entries += 1;
    lastSession = Math.max(lastSession, record.header.session);
  }
  const end = scanner.point;
  const stop = scanner.stop ?? { reason: 'lap', position: end.position };
  if (end.prev.seq < superblock.durableSeq) {
    throw new LogError(
      'Corrupt',
      `log ends at seq ${end.prev.seq} (${stop.reason} at byte ${stop.position}) but seq ${superblock.durableSeq} was recorded durable`,
    );
  }
  return { ...found, end, index, lastSession, report: { entries, stop, generation: superblock.generation } };
}
