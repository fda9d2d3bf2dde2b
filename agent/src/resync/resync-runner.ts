// One resynchronization of this replica from the primary (failback, or a full copy when no
// history connects the two). It runs on the replica being resynchronized, which holds role
// none in the primary's epoch (fenced: it serves nothing while its data is inconsistent):
//   plan     ask the primary for its change map since the takeover and the divergence point;
//            the regions to compare are that map plus every region this replica's own log
//            touched after the divergence point (divergentRegions), or the whole volume when
//            the histories do not connect (no history here, a replaced data volume, a log that
//            does not reach back to the divergence point). The primary's applied sequence at
//            that moment is the base: everything after it is in the primary's log, which it
//            keeps while it has no secondary, and will be shipped again.
//   copy     chunk by chunk: SHA-256 per 4 KiB block on both sides, and only differing blocks
//            are read from the primary and written here, within the rate limit; each chunk's
//            data is made durable before the progress that skips it is persisted, so a crash
//            of either side resumes from the last chunk.
//   follow   the replica becomes the primary's secondary with its log reset to the base; the
//            primary ships every entry after the base, which replays the writes made during
//            the copy over the copied blocks (a block copied late already holds some of them;
//            replaying a write over its own result changes nothing).
//   verify   every compared range again, each against the primary's checksums at a sequence
//            this replica has applied; a difference is acceptable only where this replica's
//            log holds a later write to that block (compared again next round). Only when
//            verification finishes may the primary forget its change map.
import type { Seq } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { divergentRegions, regionRanges, type ByteRange } from '../replication/index.js';
import { blockChecksums, blockRuns, differingBlocks } from './block-checksums.js';
import { RateLimiter, type Clock } from './rate-limiter.js';
import type { ResyncPlan, ResyncProgress, ResyncRecordStore, ResyncState } from './resync-record.js';

export const RESYNC_BLOCK_BYTES = 4096;
/** Compared per checksum request (over up to RESYNC_BATCH_PIECES_MAX pieces); also the most one read copies. */
export const RESYNC_CHUNK_BYTES = 1024 * 1024;
const RESYNC_BATCH_PIECES_MAX = 256;
const RESYNC_READS_IN_FLIGHT = 8;
const VERIFY_ROUNDS_MAX = 20;
const VERIFY_ROUND_PAUSE_MS = 200;
const APPLIED_WAIT_MS = 5 * 60_000;
const APPLIED_POLL_MS = 50;
const RATE_WINDOW_MS = 5_000;

export interface DivergenceInfo {
  /** The primary's divergence point (its log tail when its takeover drain began); null if it has none. */
  readonly divergenceSeq: Seq | null;
  readonly changedRegions: readonly number[];
  readonly regionBytes: number;
  readonly appliedSeq: Seq;
  readonly sizeBytes: number;
}

/** The primary, over the Replication service. */
export interface ResyncSource {
  readonly node: string;
  divergenceInfo(): Promise<DivergenceInfo>;
  /** SHA-256 per block of every range, in order, and the primary's applied sequence before it read them. */
  checksums(ranges: readonly ByteRange[], blockBytes: number): Promise<{ readonly checksums: readonly Uint8Array[]; readonly appliedSeq: Seq }>;
  read(range: ByteRange): Promise<Uint8Array>;
}

/** What this replica knows of its own history. */
export interface LocalHistory {
  readonly firstSeq: Seq;
  readonly lastSeq: Seq;
  readonly appliedSeq: Seq;
  /** The data file was created empty although the log had history: the data is not that history. */
  readonly dataReplaced: boolean;
  readonly changeMapRegions: readonly number[];
}

/** This replica: its data volume, its log and its role. */
export interface ResyncTarget {
  readonly sizeBytes: number;
  /** Before the copy: settle the replica's own history so a restart replays none of it over copied blocks. */
  seal(): Promise<void>;
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array): Promise<void>;
  flush(): Promise<void>;
  history(): LocalHistory;
  entriesAfter(seq: Seq): AsyncIterable<readonly Entry[]>;
  /** Follow the primary as its secondary, the log reset to `baseSeq`; a no-op if it already does. */
  follow(baseSeq: Seq): Promise<void>;
  appliedSeq(): Seq;
  logFirstSeq(): Seq;
}

export interface ResyncRequestView {
  readonly epoch: number;
  readonly bytesPerSecondMax: number;
  readonly full: boolean;
}

export interface ResyncStatusView {
  readonly state: ResyncState;
  readonly full: boolean;
  readonly sourceNode: string;
  readonly epoch: number;
  readonly regionsTotal: number;
  readonly regionsDone: number;
  readonly bytesTotal: number;
  readonly bytesDone: number;
  readonly bytesCopied: number;
  readonly bytesSkipped: number;
  readonly rateBytesPerSecond: number;
  readonly baseSeq: number;
  readonly message: string;
  readonly startedAtMs: number;
  readonly finishedAtMs: number;
}

export interface ResyncObserver {
  onCompared?(bytes: number): void;
  onCopied?(bytes: number): void;
}

export class ResyncRunner {
  private plan: ResyncPlan | null = null;
  private progress: ResyncProgress = { state: 'running', rangeIndex: 0, rangeOffset: 0, bytesDone: 0, bytesCopied: 0, message: 'planning', finishedAtMs: 0 };
  private readonly samples: Array<{ at: number; bytes: number }> = [];
  private running: Promise<void> | null = null;
  private readonly limiter: RateLimiter;

  constructor(
    private readonly request: ResyncRequestView,
    private readonly source: ResyncSource,
    private readonly target: ResyncTarget,
    private readonly store: ResyncRecordStore,
    private readonly clock: Clock,
    private readonly observer: ResyncObserver = {},
  ) {
    this.limiter = new RateLimiter(request.bytesPerSecondMax, clock);
  }

  get epoch(): number {
    return this.request.epoch;
  }

  get active(): boolean {
    return this.running !== null;
  }

  /** Starts (or resumes from the persisted record) unless it is running already; resolves when it ends. */
  start(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** A new rate limit takes effect from the next copy; repeating the same limit changes nothing. */
  setRate(bytesPerSecondMax: number): void {
    this.limiter.setRate(bytesPerSecondMax);
  }

  status(): ResyncStatusView {
    const plan = this.plan;
    const bytesTotal = plan === null ? 0 : plan.ranges.reduce((sum, range) => sum + range.length, 0);
    const { bytesDone, bytesCopied } = this.progress;
    const regionsTotal = plan?.regionsTotal ?? 0;
    return {
      state: this.progress.state,
      full: plan?.full ?? this.request.full,
      sourceNode: this.source.node,
      epoch: this.request.epoch,
      regionsTotal,
      regionsDone: bytesTotal === 0 ? (this.progress.state === 'running' ? 0 : regionsTotal) : Math.floor((bytesDone / bytesTotal) * regionsTotal),
      bytesTotal,
      bytesDone,
      bytesCopied,
      bytesSkipped: bytesDone - bytesCopied,
      rateBytesPerSecond: this.rate(),
      baseSeq: plan?.baseSeq ?? 0,
      message: this.progress.message,
      startedAtMs: plan?.startedAtMs ?? 0,
      finishedAtMs: this.progress.finishedAtMs,
    };
  }

  private async run(): Promise<void> {
    try {
      await this.loadOrPlan();
      if (this.progress.state === 'finished' || this.progress.state === 'failed') return;
      if (this.progress.state === 'running') {
        await this.target.seal();
        await this.copy();
      }
      const plan = this.mustPlan();
      await this.setProgress({ ...this.progress, state: 'verifying', message: `copied; following ${this.source.node} from sequence ${plan.baseSeq}` });
      await this.target.follow(plan.baseSeq as Seq);
      await this.verify();
    } catch (error) {
      // A copy that failed (the primary went away, a read broke) resumes from its persisted
      // progress when started again; a failed verification starts over from a new plan.
      const verifying = this.progress.state === 'verifying';
      this.progress = { ...this.progress, state: 'failed', message: error instanceof Error ? error.message : String(error), finishedAtMs: this.clock.now() };
      await this.store.saveProgress(verifying ? this.progress : { ...this.progress, state: 'running', finishedAtMs: 0 }).catch(() => undefined);
    }
  }

  private mustPlan(): ResyncPlan {
    if (this.plan === null) throw new Error('resync has no plan');
    return this.plan;
  }

  private async loadOrPlan(): Promise<void> {
    const saved = await this.store.load();
    const usable = saved !== null && saved.plan.epoch === this.request.epoch && saved.plan.sourceNode === this.source.node
      && saved.progress.state !== 'failed' && (saved.plan.full || !this.request.full);
    if (usable) {
      this.plan = saved.plan;
      this.progress = { ...saved.progress, message: saved.progress.state === 'finished' ? saved.progress.message : `resumed at ${saved.progress.bytesDone} bytes compared` };
      return;
    }
    await this.store.clear();
    const info = await this.source.divergenceInfo();
    if (info.sizeBytes !== this.target.sizeBytes) throw new Error(`the primary's volume is ${info.sizeBytes} bytes, this replica's ${this.target.sizeBytes}`);
    const history = this.target.history();
    const why = this.request.full ? 'a full copy was requested' : fullReason(info, history);
    const ranges = why === null
      ? regionRanges(await this.candidateRegions(info, history), info.regionBytes, info.sizeBytes)
      : [{ offset: 0, length: info.sizeBytes }];
    const bytes = ranges.reduce((sum, range) => sum + range.length, 0);
    this.plan = {
      epoch: this.request.epoch,
      sourceNode: this.source.node,
      full: why !== null,
      baseSeq: info.appliedSeq,
      blockBytes: RESYNC_BLOCK_BYTES,
      regionBytes: info.regionBytes,
      regionsTotal: Math.ceil(bytes / info.regionBytes),
      ranges,
      startedAtMs: this.clock.now(),
    };
    await this.store.savePlan(this.plan);
    await this.setProgress({ state: 'running', rangeIndex: 0, rangeOffset: 0, bytesDone: 0, bytesCopied: 0, message: why === null ? 'copying the regions that differ' : `full copy: ${why}`, finishedAtMs: 0 });
  }

  private async candidateRegions(info: DivergenceInfo, history: LocalHistory): Promise<number[]> {
    const divergenceSeq = info.divergenceSeq ?? (0 as Seq);
    const entries: Entry[] = [];
    for await (const block of this.target.entriesAfter(divergenceSeq)) entries.push(...block);
    return divergentRegions({
      divergenceSeq,
      returningEntries: entries,
      changeMapRegions: [...info.changedRegions, ...history.changeMapRegions],
      regionBytes: info.regionBytes,
    });
  }

  private async copy(): Promise<void> {
    const plan = this.mustPlan();
    while (this.progress.rangeIndex < plan.ranges.length) {
      const batch = nextBatch(plan.ranges, this.progress.rangeIndex, this.progress.rangeOffset);
      if (batch.pieces.length === 0) break;
      const copied = await this.copyBatch(batch.pieces, plan.blockBytes);
      await this.target.flush();
      this.record(batch.bytes);
      await this.setProgress({
        ...this.progress,
        rangeIndex: batch.rangeIndex,
        rangeOffset: batch.rangeOffset,
        bytesDone: this.progress.bytesDone + batch.bytes,
        bytesCopied: this.progress.bytesCopied + copied,
        message: 'copying the regions that differ',
      });
    }
  }

  /**
   * Compares a batch of pieces with one checksum call and copies their differing blocks, the
   * reads running RESYNC_READS_IN_FLIGHT at a time: on a far link each round trip costs the
   * link's delay, so neither the comparison nor the copy may pay it once per 4 KiB region.
   * Returns the bytes copied.
   */
  private async copyBatch(pieces: readonly ByteRange[], blockBytes: number): Promise<number> {
    const [remote, local] = await Promise.all([
      this.source.checksums(pieces, blockBytes),
      Promise.all(pieces.map((piece) => this.target.read(piece.offset, piece.length))),
    ]);
    const runs: ByteRange[] = [];
    let at = 0;
    pieces.forEach((piece, i) => {
      const sums = blockChecksums(local[i] ?? new Uint8Array(0), blockBytes);
      const differing = differingBlocks(sums, remote.checksums.slice(at, at + sums.length));
      at += sums.length;
      for (const run of blockRuns(differing, RESYNC_CHUNK_BYTES / blockBytes)) {
        const offset = piece.offset + run.first * blockBytes;
        runs.push({ offset, length: Math.min(run.count * blockBytes, piece.offset + piece.length - offset) });
      }
    });
    this.observer.onCompared?.(pieces.reduce((sum, piece) => sum + piece.length, 0));
    let copied = 0;
    await inParallel(runs, RESYNC_READS_IN_FLIGHT, async (run) => {
      await this.limiter.take(run.length);
      const data = await this.source.read(run);
      if (data.length !== run.length) throw new Error(`the primary returned ${data.length} bytes for ${run.length} at offset ${run.offset}`);
      await this.target.write(run.offset, data);
      copied += run.length;
      this.observer.onCopied?.(run.length);
    });
    return copied;
  }

  private async verify(): Promise<void> {
    const plan = this.mustPlan();
    let pending: ByteRange[] = [...plan.ranges];
    for (let round = 1; round <= VERIFY_ROUNDS_MAX; round += 1) {
      const again: ByteRange[] = [];
      for (let index = 0, offset = 0; index < pending.length;) {
        const batch = nextBatch(pending, index, offset);
        ({ rangeIndex: index, rangeOffset: offset } = batch);
        const remote = await this.source.checksums(batch.pieces, plan.blockBytes);
        await this.waitApplied(remote.appliedSeq);
        let at = 0;
        for (const piece of batch.pieces) {
          const local = blockChecksums(await this.target.read(piece.offset, piece.length), plan.blockBytes);
          const differing = differingBlocks(local, remote.checksums.slice(at, at + local.length));
          at += local.length;
          if (differing.length === 0) continue;
          const explained = await this.writtenSince(remote.appliedSeq, piece, plan.blockBytes);
          const unexplained = differing.filter((block) => !explained.has(block));
          if (unexplained.length > 0) {
            const first = piece.offset + (unexplained[0] ?? 0) * plan.blockBytes;
            throw new Error(`verification failed: ${unexplained.length} block(s) differ from the primary with no later write to explain it (first at offset ${first}); the change map is kept, a new resync is needed`);
          }
          for (const block of differing) {
            const blockOffset = piece.offset + block * plan.blockBytes;
            again.push({ offset: blockOffset, length: Math.min(plan.blockBytes, piece.offset + piece.length - blockOffset) });
          }
        }
      }
      if (again.length === 0) {
        await this.setProgress({ ...this.progress, state: 'finished', message: `verified ${this.progress.bytesDone} bytes in ${round} round(s); ${this.progress.bytesCopied} bytes copied`, finishedAtMs: this.clock.now() });
        return;
      }
      pending = again;
      await this.setProgress({ ...this.progress, message: `verifying: ${again.length} block(s) written meanwhile, compared again (round ${round})` });
      await this.clock.sleep(VERIFY_ROUND_PAUSE_MS);
    }
    throw new Error(`verification did not settle in ${VERIFY_ROUNDS_MAX} rounds: blocks kept changing`);
  }

  private async waitApplied(seq: Seq): Promise<void> {
    const deadline = this.clock.now() + APPLIED_WAIT_MS;
    while (this.target.appliedSeq() < seq) {
      if (this.clock.now() > deadline) throw new Error(`this replica did not apply the primary's log through ${seq} within ${APPLIED_WAIT_MS / 1000} s`);
      await this.clock.sleep(APPLIED_POLL_MS);
    }
  }

  /**
   * Blocks of `chunk` this replica's log wrote after `seq` (their difference from the primary's
   * checksums at `seq` is expected). Every block counts when the log no longer reaches back.
   */
  private async writtenSince(seq: Seq, chunk: ByteRange, blockBytes: number): Promise<Set<number>> {
    const blocks = new Set<number>();
    const blockCount = Math.ceil(chunk.length / blockBytes);
    if (this.target.logFirstSeq() > seq + 1) {
      for (let i = 0; i < blockCount; i += 1) blocks.add(i);
      return blocks;
    }
    for await (const entries of this.target.entriesAfter(seq)) {
      for (const entry of entries) {
        const start = Math.max(entry.offset, chunk.offset);
        const end = Math.min(entry.offset + entry.length, chunk.offset + chunk.length);
        for (let at = start; at < end; at = (Math.floor((at - chunk.offset) / blockBytes) + 1) * blockBytes + chunk.offset) {
          blocks.add(Math.floor((at - chunk.offset) / blockBytes));
        }
      }
    }
    return blocks;
  }

  private async setProgress(progress: ResyncProgress): Promise<void> {
    this.progress = progress;
    await this.store.saveProgress(progress);
  }

  private record(bytes: number): void {
    const now = this.clock.now();
    const last = this.samples[this.samples.length - 1];
    this.samples.push({ at: now, bytes: (last?.bytes ?? 0) + bytes });
    while (this.samples.length > 2 && (this.samples[0]?.at ?? now) < now - RATE_WINDOW_MS) this.samples.shift();
  }

  private rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined || last.at <= first.at) return 0;
    return Math.round(((last.bytes - first.bytes) / (last.at - first.at)) * 1000);
  }
}

/** Why the histories do not connect, or null when only the divergent regions need comparing. */
function fullReason(info: DivergenceInfo, history: LocalHistory): string | null {
  if (info.divergenceSeq === null) return 'the primary records no divergence point';
  if (history.dataReplaced) return 'the data volume was replaced';
  if (history.lastSeq === 0 && history.appliedSeq === 0) return 'this replica has no history of the volume';
  if (history.appliedSeq < info.divergenceSeq) return `this replica applied only through ${history.appliedSeq}, before the divergence point ${info.divergenceSeq}`;
  if (history.firstSeq > info.divergenceSeq + 1 && history.lastSeq > info.divergenceSeq) return `this replica's log starts at ${history.firstSeq}, after the divergence point ${info.divergenceSeq}`;
  return null;
}

/**
 * The next pieces of `ranges` from (rangeIndex, rangeOffset): whole or split ranges, at most
 * RESYNC_CHUNK_BYTES and RESYNC_BATCH_PIECES_MAX pieces in all, and where the next batch starts.
 */
function nextBatch(ranges: readonly ByteRange[], rangeIndex: number, rangeOffset: number): { pieces: ByteRange[]; bytes: number; rangeIndex: number; rangeOffset: number } {
  const pieces: ByteRange[] = [];
  let bytes = 0;
  let index = rangeIndex;
  let within = rangeOffset;
  while (index < ranges.length && bytes < RESYNC_CHUNK_BYTES && pieces.length < RESYNC_BATCH_PIECES_MAX) {
    const range = ranges[index];
    if (range === undefined) break;
    const length = Math.min(RESYNC_CHUNK_BYTES - bytes, range.length - within);
    pieces.push({ offset: range.offset + within, length });
    bytes += length;
    within += length;
    if (within >= range.length) {
      index += 1;
      within = 0;
    }
  }
  return { pieces, bytes, rangeIndex: index, rangeOffset: within };
}

/** Runs `work` over `items`, at most `limit` at once; the first failure rejects (after the others settle). */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      if (item !== undefined) await work(item);
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
