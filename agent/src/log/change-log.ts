// The change log: one implementation for the primary's change log, the bunker's log copy
// and the secondary's change and staging logs (docs/log.md).
//
// Appends are group-committed. An append is validated and encoded when it is called, waits
// in a bounded queue, is admitted into the open batch when the in-flight and batch limits
// and the free space allow, and resolves when the datasync of its batch returns. One commit
// loop writes each batch with one writev (two when it wraps) and one datasync; while one
// batch's datasync runs, the next gathers and is written, so concurrent appenders share
// each datasync and encoding overlaps the disk. Appenders that come back together after a
// datasync are split into two alternating batches when the device would otherwise idle
// while they are turned around (splitAfterIdle). Reads and trims walk the log (log-reader.ts).
//
// Invariants:
//  - entries become durable in sequence order, and only by a returned datasync;
//  - the queue, the batches and the index are bounded; pressure is pushed back to callers;
//  - space below a trim is reused only when both superblock copies record the new tail;
//  - after a storage error the log refuses everything (Io): only recovery decides what is
//    durable then, because the kernel may have dropped the pages that failed to write.
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { epoch as toEpoch, seq as toSeq, EPOCH_NONE, SEQ_NONE, type Epoch, type Seq } from '@bunker/proto/ids';
import { BoundedQueue } from './bounded-queue.js';
import { resolveOptions, type ChangeLogCreateOptions, type ChangeLogOptions, type ResolvedOptions } from './change-log-options.js';
import { CommitBatch, type AppendOutcome, type EncodedRecord, type PendingAppend } from './commit-batch.js';
import { deferred, type Deferred } from './deferred.js';
import type { Entry } from './entry.js';
import { ioError, LogError } from './errors.js';
import { DATA_START_POSITION, encodeEntryHeader, ENTRY_ALIGN_BYTES, recordBytes } from './format.js';
import { afterSkipRule, distance, layoutFor, regionBytes, type Layout } from './log-space.js';
import { recover, type RecoveryReport } from './recovery.js';
import { LogReader, type ReadLimits } from './log-reader.js';
import { follows, type ChainLink, type ScanPoint } from './scan.js';
import { SeqIndex } from './seq-index.js';
import type { Storage } from './storage.js';
import { encodeSuperblock, REGION_BYTES_MIN, slotPosition, SUPERBLOCK_BYTES } from './superblock.js';
import { SuperblockKeeper, type SuperblockWrite } from './superblock-keeper.js';

export type { AppendOutcome } from './commit-batch.js';
export type { ChangeLogCreateOptions, ChangeLogOptions, FillPolicy } from './change-log-options.js';
export type { ReadLimits } from './log-reader.js';

/** `tracking`: the log was full under fill policy trackChanges; appends are not logged. */
export type LogMode = 'logging' | 'tracking';

export interface ChangeLogStats {
  /** Batches made durable. */
  readonly batches: number;
  readonly entries: number;
  readonly datasyncs: number;
  readonly writevs: number;
  readonly superblockWrites: number;
  /** Record and superblock bytes written. */
  readonly bytesWritten: number;
}

interface LogInit {
  readonly layout: Layout;
  readonly logId: number;
  readonly session: number;
  readonly generations: readonly [number, number];
  readonly epoch: Epoch;
  readonly tail: ScanPoint;
  readonly end: ScanPoint;
  readonly appliedSeq: Seq;
  readonly index: SeqIndex;
  readonly recovery: RecoveryReport | undefined;
}

const TRACKING: AppendOutcome = { kind: 'tracking' };

/** Weight of a new sample in the moving averages of datasync and idle times. */
const AVERAGE_WEIGHT = 0.25;
/** A batch is split only when at least this many appends shared it. */
const SPLIT_APPENDS_MIN = 4;
/**
 * A batch is split when the device idled, between the return of one datasync and the start
 * of the next, for a time within this range of datasync times: long enough that the idle
 * time is worth hiding behind a datasync, short enough that it is the appenders turning
 * around (a closed loop), not a lull between bursts (splitting a burst only adds latency).
 */
const SPLIT_IDLE_MIN = 0.5;
const SPLIT_IDLE_MAX = 4;

/** What one datasync makes durable: a batch of records, a superblock copy, or both. */
interface Stage {
  readonly batch: CommitBatch | undefined;
  readonly write: SuperblockWrite | undefined;
}

export class ChangeLog {
  /** What recovery found when the log was opened (undefined for a new log). */
  readonly recovery: RecoveryReport | undefined;
  private readonly layout: Layout;
  private readonly logId: number;
  private readonly session: number;
  private readonly index: SeqIndex;
  private readonly keeper: SuperblockKeeper;
  private readonly reader: LogReader;
  private readonly queue: BoundedQueue<PendingAppend>;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private failure: LogError | undefined;
  private modeValue: LogMode = 'logging';
  private openBatch: CommitBatch;
  /** Batches taken from the open batch and not yet durable: at most two (written, syncing). */
  private inFlight: CommitBatch[] = [];
  private workArrived: Deferred<'work'> | undefined;
  private committing: Promise<void> | undefined;
  private inflightBytes = 0;
  private inflightEntries = 0;
  /** The last entry validated by append: the next append must follow it. */
  private queuedLast: ChainLink;
  private epochValue: Epoch;
  private durableEnd: ScanPoint;
  private requestedTail: ScanPoint;
  private appliedSeqValue: Seq;
  private blockTimer: NodeJS.Timeout | undefined;
  private trims: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private counters = { batches: 0, entries: 0, datasyncs: 0, writevs: 0, superblockWrites: 0, bytesWritten: 0 };
  /** Moving averages (ms) of datasync times and of the device's idle time between batches. */
  private syncMsAverage = 0;
  private idleMsAverage = 0;
  /** When the last batch in flight became durable with nothing left to write. */
  private idleSince: number | undefined;
  /** A lower entry limit for the next batch only (see splitAfterIdle). */
  private batchEntriesCap: number | undefined;

  private constructor(
    private readonly storage: Storage,
    private readonly options: ResolvedOptions,
    init: LogInit,
  ) {
    this.layout = init.layout;
    this.logId = init.logId;
    this.session = init.session;
    this.index = init.index;
    this.recovery = init.recovery;
    this.keeper = new SuperblockKeeper(init.generations, init.tail, options.superblockEveryBatches);
    this.queue = new BoundedQueue(options.appendWaitersMax);
    this.epochValue = init.epoch;
    this.durableEnd = init.end;
    this.requestedTail = init.tail;
    this.appliedSeqValue = init.appliedSeq;
    this.queuedLast = init.end.prev;
    this.openBatch = new CommitBatch(this.layout, init.end, this.logId);
    this.reader = new LogReader({
      storage, layout: this.layout, logId: this.logId, readBlockBytes: options.readBlockBytes, index: this.index,
      marks: () => ({ durableEnd: this.durableEnd, firstSeq: this.firstSeq, effectiveTail: this.keeper.effectiveTail }),
    });
  }

  /** Writes a new, empty log over `storage` (its old content is never read as records). */
  static async create(storage: Storage, options: ChangeLogCreateOptions): Promise<ChangeLog> {
    const { sizeBytes } = options;
    const sizeBytesMin = DATA_START_POSITION + REGION_BYTES_MIN;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes % ENTRY_ALIGN_BYTES !== 0 || sizeBytes < sizeBytesMin) {
      throw new RangeError(`sizeBytes must be a multiple of ${ENTRY_ALIGN_BYTES} of at least ${sizeBytesMin}, got ${sizeBytes}`);
    }
    const layout = layoutFor(sizeBytes);
    const resolved = resolveOptions(options, regionBytes(layout));
    const logId = options.logId ?? randomInt(1, 2 ** 32);
    const start = options.startAfter ?? { epoch: EPOCH_NONE, seq: SEQ_NONE };
    const tail: ScanPoint = { position: layout.start, prev: { epoch: start.epoch, seq: start.seq, session: 0 } };
    const superblock = {
      volumeUid: resolved.volumeUid, logId, session: 1, sizeBytes, epoch: start.epoch, head: layout.start, tail: layout.start,
      anchorEpoch: start.epoch, anchorSeq: start.seq, durableSeq: start.seq, appliedSeq: start.seq,
    };
    try {
      // A log shorter than its recorded size is refused as truncated: give it its full size.
      if ((await storage.size()) < sizeBytes) await storage.writev(sizeBytes - 1, [new Uint8Array(1)]);
      await storage.writev(slotPosition(0), [encodeSuperblock({ ...superblock, generation: 1 })]);
      await storage.writev(slotPosition(1), [encodeSuperblock({ ...superblock, generation: 2 })]);
      await storage.datasync();
    } catch (cause) {
      throw ioError('creating the log', cause);
    }
    const index = new SeqIndex(regionBytes(layout), resolved.indexIntervalBytes);
    return new ChangeLog(storage, resolved, {
      layout, logId, session: 1, generations: [1, 2], epoch: start.epoch, tail, end: tail,
      appliedSeq: start.seq, index, recovery: undefined,
    });
  }

  /**
   * Opens an existing log: recovery (recovery.ts), then a new session recorded in both
   * superblock copies before any append, so records left beyond the cut by the previous
   * session can never follow this session's.
   */
  static async open(storage: Storage, options: ChangeLogOptions): Promise<ChangeLog> {
    // The log's size is known only from its superblock: check the options that do not
    // depend on it first, and the rest once recovery has read it.
    const found = await recover(storage, resolveOptions(options, Number.MAX_SAFE_INTEGER));
    const resolved = resolveOptions(options, regionBytes(found.layout));
    const sb = found.superblock;
    const log = new ChangeLog(storage, resolved, {
      layout: found.layout, logId: sb.logId, session: found.lastSession + 1, generations: found.generations,
      epoch: toEpoch(Math.max(sb.epoch, found.end.prev.epoch)), tail: found.tail, end: found.end,
      appliedSeq: sb.appliedSeq, index: found.index, recovery: found.report,
    });
    log.keeper.touch();
    await log.persistNow();
    return log;
  }

  get durableSeq(): Seq {
    return this.durableEnd.prev.seq;
  }

  get appliedSeq(): Seq {
    return this.appliedSeqValue;
  }

  /** The lowest sequence the log can still return; below it, entries were trimmed. */
  get firstSeq(): Seq {
    return toSeq(this.requestedTail.prev.seq + 1);
  }

  get epoch(): Epoch {
    return this.epochValue;
  }

  get mode(): LogMode {
    return this.modeValue;
  }

  get sizeBytes(): number {
    return this.layout.end;
  }

  /** Bytes of the data region taken by live and in-flight records (and skipped space). */
  get usedBytes(): number {
    const tail = afterSkipRule(this.layout, this.keeper.effectiveTail.position);
    return distance(this.layout, tail, afterSkipRule(this.layout, this.openBatch.end.position));
  }

  get stats(): ChangeLogStats {
    return { ...this.counters };
  }

  /**
   * Appends entries in order; they must follow the previous append's (same epoch: seq + 1;
   * a newer epoch: any higher seq). Resolves once they are durable, or with `tracking` when
   * the log is full under trackChanges. The payloads must not change until it settles.
   */
  append(entries: readonly Entry[]): Promise<AppendOutcome> {
    // Not an async function: the promise returned is the batch's own, one hop fewer per append.
    try {
      this.assertUsable();
      if (this.modeValue === 'tracking') return Promise.resolve(TRACKING);
      const pending = this.prepare(entries);
      this.queue.push(pending);
      this.admit();
      return pending.done.promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Leaves tracking mode; the next append must follow the last entry logged. */
  resumeLogging(): void {
    this.assertUsable();
    this.modeValue = 'logging';
  }

  /** Up to `limits` of durable entries after `afterSeq`, in order; empty when there are none. */
  async readBlock(afterSeq: Seq, limits: ReadLimits): Promise<Entry[]> {
    this.assertUsable();
    return this.reader.readBlock(afterSeq, limits);
  }

  /** Durable entries after `afterSeq` in blocks, up to the durable end when the walk gets there. */
  async *readFrom(afterSeq: Seq, limits: ReadLimits): AsyncGenerator<Entry[], void, undefined> {
    let after = afterSeq;
    for (let block = await this.readBlock(after, limits); block.length > 0; block = await this.readBlock(after, limits)) {
      yield block;
      after = block.at(-1)?.seq ?? after;
    }
  }

  /** Incomplete writes: durable entries above the applied mark, to apply in order. */
  incomplete(limits: ReadLimits): AsyncGenerator<Entry[], void, undefined> {
    return this.readFrom(this.appliedSeqValue, limits);
  }

  /**
   * Records that entries up to `appliedSeq` are applied to the data volume AND durable there.
   * Persisted with the superblock (every superblockEveryBatches batches, on trim, flush, close).
   */
  markApplied(appliedSeq: Seq): void {
    this.assertUsable();
    if (appliedSeq > this.durableSeq) throw new RangeError(`cannot mark seq ${appliedSeq} applied: durable is ${this.durableSeq}`);
    if (appliedSeq <= this.appliedSeqValue) return;
    this.appliedSeqValue = appliedSeq;
    this.keeper.touch();
  }

  /**
   * Releases entries below `belowSeq`, never above the applied mark. Resolves with the new
   * firstSeq once both superblock copies record it and its space is reusable.
   */
  trimBelow(belowSeq: Seq): Promise<Seq> {
    const run = this.trims.then(() => this.trimNow(belowSeq));
    this.trims = run.catch(() => undefined);
    return run;
  }

  /** Fences: appends of older epochs are refused from now on. Resolves once persisted. */
  async beginEpoch(next: Epoch): Promise<void> {
    this.assertUsable();
    if (next < this.epochValue) throw new LogError('StaleEpoch', `epoch ${next} is older than the log's ${this.epochValue}`);
    this.epochValue = next;
    this.keeper.touch();
    await this.persistNow();
  }

  /** Persists the applied and durable marks now. */
  async flush(): Promise<void> {
    this.assertUsable();
    await this.persistNow();
  }

  /** Refuses waiting appends, lets admitted ones finish, persists the marks, closes storage. */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.state = 'closing';
    this.abandonQueue(new LogError('Closed', 'the log closed while the append waited for room'));
    let failure: unknown;
    if (this.failure === undefined) {
      this.keeper.touch();
      await this.persistNow().catch((error: unknown) => { failure = error; });
    }
    await this.committing;
    this.state = 'closed';
    await this.storage.close().catch((cause: unknown) => { failure ??= ioError('closing the log', cause); });
    if (failure !== undefined) throw failure;
  }

  // ----- appending -------------------------------------------------------------------------

  /** Validates and encodes an append against the previous one; throws on a bad one. */
  private prepare(entries: readonly Entry[]): PendingAppend {
    if (entries.length === 0) throw new RangeError('append needs at least one entry');
    if (entries.length > this.options.inflightEntriesMax) {
      throw new LogError('TooLarge', `${entries.length} entries exceed inflightEntriesMax ${this.options.inflightEntriesMax}`);
    }
    if (this.queue.full) throw new LogError('Busy', `${this.queue.length} appends already wait for room`);
    let prev = this.queuedLast;
    let bytes = 0;
    for (const entry of entries) {
      this.checkEntry(entry, prev);
      prev = { epoch: entry.epoch, seq: entry.seq, session: this.session };
      bytes += recordBytes(entry.payload.length);
    }
    if (bytes > this.options.appendBytesMax) {
      throw new LogError('TooLarge', `append of ${bytes} bytes exceeds ${this.options.appendBytesMax} (log size and inflightBytesMax)`);
    }
    // Encoded (CRCs computed) now, by the caller's turn, not by the commit loop.
    const records = entries.map((entry): EncodedRecord => ({
      header: encodeEntryHeader(entry, this.logId, this.session),
      payload: entry.payload,
      bytes: recordBytes(entry.payload.length),
      link: { epoch: entry.epoch, seq: entry.seq, session: this.session },
    }));
    this.queuedLast = prev;
    this.epochValue = toEpoch(Math.max(this.epochValue, prev.epoch));
    return { records, bytes, lastSeq: prev.seq, done: deferred() };
  }

  private checkEntry(entry: Entry, prev: ChainLink): void {
    const payloadOk = entry.kind === 'write' ? entry.payload.length === entry.length : entry.payload.length === 0;
    if (!payloadOk || !Number.isSafeInteger(entry.offset + entry.length) || entry.offset < 0 || entry.length < 0) {
      throw new RangeError(`entry ${entry.seq}: a ${entry.kind} of ${entry.length} bytes at ${entry.offset} with a ${entry.payload.length}-byte payload`);
    }
    if (entry.payload.length > this.options.entryBytesMax) {
      throw new LogError('TooLarge', `entry ${entry.seq} payload of ${entry.payload.length} bytes exceeds entryBytesMax ${this.options.entryBytesMax}`);
    }
    if (entry.epoch < this.epochValue) {
      throw new LogError('StaleEpoch', `entry ${entry.seq} has epoch ${entry.epoch}, the log is at ${this.epochValue}`);
    }
    if (!follows(prev, { epoch: entry.epoch, seq: entry.seq, session: this.session })) {
      throw new LogError('SequenceGap', `entry ${entry.seq} (epoch ${entry.epoch}) does not follow ${prev.seq} (epoch ${prev.epoch})`);
    }
  }

  /** Moves queued appends into the open batch while limits and space allow. */
  private admit(): void {
    for (let pending = this.queue.peek(); pending !== undefined; pending = this.queue.peek()) {
      const overLimits = this.inflightBytes + pending.bytes > this.options.inflightBytesMax ||
        this.inflightEntries + pending.records.length > this.options.inflightEntriesMax;
      if (overLimits && this.inflightEntries > 0) break;
      const batchFull = this.openBatch.bytes + pending.bytes > this.options.batchBytesMax ||
        this.openBatch.entries + pending.records.length > this.batchEntriesLimit();
      if (batchFull && !this.openBatch.isEmpty) break;
      if (this.usedBytes + this.openBatch.consumption(pending) >= regionBytes(this.layout)) {
        this.onFull();
        break;
      }
      this.queue.shift();
      this.clearBlockTimer();
      this.openBatch.add(pending);
      this.inflightBytes += pending.bytes;
      this.inflightEntries += pending.records.length;
    }
    if (!this.openBatch.isEmpty) {
      this.signalWork();
      this.kick();
    }
  }

  /** The head of the queue does not fit: apply the fill policy. */
  private onFull(): void {
    const policy = this.options.fillPolicy;
    switch (policy.kind) {
      case 'fail':
        this.abandonQueue(new LogError('LogFull', `no room for the append in a ${this.layout.end}-byte log`));
        return;
      case 'trackChanges':
        this.modeValue = 'tracking';
        for (const pending of this.queue.drain()) pending.done.resolve(TRACKING);
        this.queuedLast = this.openBatch.end.prev;
        return;
      case 'block':
        this.blockTimer ??= setTimeout(() => {
          this.blockTimer = undefined;
          this.abandonQueue(new LogError('LogFull', `no room for the append after waiting ${policy.waitMs} ms`));
        }, policy.waitMs);
        return;
      default:
        return assertNever(policy);
    }
  }

  /** Rejects every queued append; the next append must follow the last admitted entry. */
  private abandonQueue(error: LogError): void {
    this.clearBlockTimer();
    for (const pending of this.queue.drain()) pending.done.reject(error);
    this.queuedLast = this.openBatch.end.prev;
  }

  private clearBlockTimer(): void {
    if (this.blockTimer !== undefined) clearTimeout(this.blockTimer);
    this.blockTimer = undefined;
  }

  // ----- the commit loop -------------------------------------------------------------------

  /**
   * Starts the commit loop unless it runs. It starts on a microtask, so that the appends
   * issued in the same turn of the event loop share its first batch.
   */
  private kick(): void {
    if (this.committing === undefined && this.failure === undefined) {
      this.committing = Promise.resolve().then(() => this.commitLoop());
    }
  }

  /**
   * Writes batches until there is nothing left, as a two-stage pipeline: while one batch's
   * datasync runs, the next batch gathers and is written, so encoding, writing and the
   * datasync overlap. A batch completes (its appends resolve) only when its own datasync
   * has returned, and datasyncs run one at a time, in order. Never rejects.
   */
  private async commitLoop(): Promise<void> {
    let syncing: { readonly stage: Stage; readonly done: Promise<void> } | undefined;
    try {
      for (;;) {
        const stage = this.takeStage(syncing?.stage.write !== undefined);
        if (stage !== undefined) {
          await this.writeStage(stage);
          const previous = syncing;
          if (previous !== undefined) await previous.done;
          // The next datasync is issued first: completing the previous batch (index notes,
          // resolving its appends, admitting queued ones) and its appenders' next appends
          // (encoding, CRCs) then run while the device works, not between two datasyncs.
          syncing = { stage, done: this.syncStage(stage) };
          if (previous !== undefined) this.completed(previous.stage, true);
          continue;
        }
        if (syncing === undefined) break;
        // Wait for the datasync, or for appends to write meanwhile, whichever comes first.
        const work = this.nextWork();
        if ((await Promise.race([syncing.done.then(() => 'synced' as const), work])) === 'synced') {
          this.completed(syncing.stage, false);
          syncing = undefined;
        }
      }
    } catch (cause) {
      this.fail(cause);
    }
    // Synchronous from the last check to here: no append can slip in unseen.
    this.committing = undefined;
  }

  /**
   * batchEntriesMax, or the cap splitAfterIdle set for the next batch while the appenders it
   * expects can still be turning around; appends that come after a longer lull are a new
   * burst, and a burst gains nothing from a split.
   */
  private batchEntriesLimit(): number {
    const cap = this.batchEntriesCap;
    if (cap === undefined) return this.options.batchEntriesMax;
    if (this.idleSince === undefined || performance.now() - this.idleSince > SPLIT_IDLE_MAX * this.syncMsAverage) {
      this.batchEntriesCap = undefined;
      return this.options.batchEntriesMax;
    }
    return Math.min(cap, this.options.batchEntriesMax);
  }

  /** The open batch (if any) and a superblock copy (if due and none is in flight). */
  private takeStage(superblockInFlight: boolean): Stage | undefined {
    const batch = this.openBatch.isEmpty ? undefined : this.openBatch;
    const write = !superblockInFlight && this.keeper.due(batch !== undefined) ? this.planSuperblock() : undefined;
    if (batch === undefined && write === undefined) return undefined;
    if (batch !== undefined) {
      this.openBatch = new CommitBatch(this.layout, batch.end, this.logId);
      this.inFlight.push(batch);
      this.batchEntriesCap = undefined;
      // Appends held back by the batch limit go into the next batch.
      this.admit();
    }
    return { batch, write };
  }

  private async writeStage(stage: Stage): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const segment of stage.batch?.segments ?? []) {
      writes.push(this.storage.writev(segment.position, segment.buffers));
      this.counters.writevs += 1;
      this.counters.bytesWritten += segment.bytes;
    }
    if (stage.write !== undefined) {
      writes.push(this.storage.writev(stage.write.position, [stage.write.bytes]));
      this.counters.bytesWritten += SUPERBLOCK_BYTES;
    }
    await Promise.all(writes);
  }

  /** Starts the datasync covering everything written so far. */
  private syncStage(stage: Stage): Promise<void> {
    const started = performance.now();
    if (this.idleSince !== undefined && stage.batch !== undefined) {
      this.idleMsAverage = average(this.idleMsAverage, started - this.idleSince);
    }
    this.idleSince = undefined;
    let datasync: Promise<void>;
    try {
      datasync = this.storage.datasync();
    } catch (cause) {
      // Surfaces where the loop awaits it: after the previous batch completed, as before.
      datasync = Promise.reject(cause);
    }
    const done = datasync.then(() => {
      this.counters.datasyncs += 1;
      this.syncMsAverage = average(this.syncMsAverage, performance.now() - started);
    });
    // Awaited later; until then a rejection must not count as unhandled.
    done.catch(() => undefined);
    return done;
  }

  /** Resolves when an append is admitted to the open batch (or someone waits for a superblock). */
  private nextWork(): Promise<'work'> {
    this.workArrived ??= deferred<'work'>();
    return this.workArrived.promise;
  }

  private signalWork(): void {
    this.workArrived?.resolve('work');
    this.workArrived = undefined;
  }

  /** `nextSyncing`: another datasync already runs, so the device does not idle after this one. */
  private completed(stage: Stage, nextSyncing: boolean): void {
    const { batch, write } = stage;
    if (batch !== undefined) {
      for (const note of batch.notes) this.index.note(note.point, note.seq, note.bytes);
      this.durableEnd = batch.end;
      this.inFlight = this.inFlight.filter((inFlight) => inFlight !== batch);
      this.inflightBytes -= batch.bytes;
      this.inflightEntries -= batch.entries;
      this.counters.batches += 1;
      this.counters.entries += batch.entries;
      this.keeper.countBatch();
      if (!nextSyncing && this.inFlight.length === 0 && this.openBatch.isEmpty && this.queue.length === 0) this.splitAfterIdle(batch);
      for (const append of batch.appends) append.done.resolve({ kind: 'durable', lastSeq: append.lastSeq });
    }
    if (write !== undefined) {
      this.keeper.written(write);
      this.counters.superblockWrites += 1;
      this.index.dropBelow(toSeq(this.keeper.effectiveTail.prev.seq + 1));
    }
    this.admit();
  }

  /**
   * The batch just completed was the last one in flight: the device idles until its appenders
   * (or others) append again. Appenders that wait for each other's datasync come back
   * together, and while their next batch is encoded and written the device has nothing to
   * do; with the default limits they would stay in one batch forever. When that idle time is
   * comparable to a datasync (see SPLIT_IDLE_MIN/MAX), the next batch takes only half of
   * them: the other half forms the batch written while the first one syncs, and from then on
   * the two groups alternate, one encoded and written while the other's datasync runs. When
   * the datasync dominates, nothing is split and a batch keeps taking every append that waits.
   */
  private splitAfterIdle(batch: CommitBatch): void {
    this.idleSince = performance.now();
    const idle = this.idleMsAverage;
    const sync = this.syncMsAverage;
    if (batch.appends.length >= SPLIT_APPENDS_MIN && sync > 0 && idle >= SPLIT_IDLE_MIN * sync && idle <= SPLIT_IDLE_MAX * sync) {
      this.batchEntriesCap = Math.ceil(batch.entries / 2);
    }
  }

  /** The superblock as of the last returned datasync: it never claims what is in flight. */
  private planSuperblock(): SuperblockWrite {
    const tail = this.requestedTail;
    return this.keeper.plan({
      volumeUid: this.options.volumeUid, logId: this.logId, session: this.session, sizeBytes: this.layout.end,
      epoch: this.epochValue, head: afterSkipRule(this.layout, this.durableEnd.position),
      tail: afterSkipRule(this.layout, tail.position), anchorEpoch: tail.prev.epoch, anchorSeq: tail.prev.seq,
      durableSeq: this.durableSeq, appliedSeq: this.appliedSeqValue,
    }, tail);
  }

  private fail(cause: unknown): void {
    if (this.failure !== undefined) return;
    const error = new LogError('Io', 'the log storage failed; the log must be reopened', { cause });
    this.failure = error;
    this.clearBlockTimer();
    for (const batch of [...this.inFlight, this.openBatch]) {
      for (const append of batch.appends) append.done.reject(error);
    }
    this.signalWork();
    for (const pending of this.queue.drain()) pending.done.reject(error);
    this.keeper.failAll(error);
  }

  /** Resolves once both superblock copies hold the current state. */
  private async persistNow(): Promise<void> {
    // Wait first, then kick: the loop must see the waiter when it decides what is due.
    const done = this.keeper.waitForBoth();
    this.signalWork();
    this.kick();
    if (this.failure !== undefined) throw this.failure;
    await done;
  }

  // ----- trimming -------------------------------------------------------------------------

  private async trimNow(belowSeq: Seq): Promise<Seq> {
    this.assertUsable();
    const target = Math.min(belowSeq, Math.min(this.appliedSeqValue, this.durableSeq) + 1);
    if (target > this.firstSeq) {
      this.requestedTail = await this.reader.locate(toSeq(target));
      this.keeper.touch();
    }
    await this.persistNow();
    return this.firstSeq;
  }

  private assertUsable(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.state !== 'open') throw new LogError('Closed', 'the log is closed');
  }
}

function average(current: number, sample: number): number {
  return current === 0 ? sample : current + AVERAGE_WEIGHT * (sample - current);
}

function assertNever(value: never): never {
  throw new Error(`unexpected ${JSON.stringify(value)}`);
}
