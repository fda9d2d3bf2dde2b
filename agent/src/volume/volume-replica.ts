// The driver of one volume's replica on this agent: it owns the replication core (a pure
// state machine) and does all of its I/O. One loop steps queued events, takes a Ready,
// performs it in the order ready.ts prescribes, and advances. Slow work (group commits,
// applies, reads) is started here and reports back as events, so the loop never waits on a
// disk while a peer's acknowledgement or a consumer's request is ready to be stepped.
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import { BunkerError } from '@bunker/proto/bunker-error';
import type { Logger } from '../observability/logger.js';
import type { ChangeLog } from '../log/change-log.js';
import type { Entry } from '../log/entry.js';
import {
  NO_BUGS, Replica, defaultLimits,
  type ConfigureAnswer, type Event, type Intent, type ReplicaStatus, type Ready, type RequestAnswer, type ConsumerRequest, type TakeoverReport, type Health,
} from '../replication/index.js';
import type { PeerLinks } from '../links/peer-links.js';
import type { DataVolume } from './data-volume.js';
import type { IntentStore, VolumeRecord } from './intent-store.js';
import { DATA_START_POSITION, ENTRY_HEADER_BYTES } from '../log/format.js';
import { LOG_ENTRY_BYTES_MAX, openVolumeFiles, recreateLog, type VolumeFiles } from './volume-storage.js';
import { LagTracker, type Lag } from './lag-tracker.js';

/** Events waiting to be stepped; past this the producer (NBD, gRPC) is told to back off. */
const EVENT_QUEUE_MAX = 16_384;
export const TICK_MS = 20;
const TRIM_INTERVAL_MS = 1_000;

export class VolumeBusyError extends BunkerError<'Busy'> {}

export interface VolumeReplicaOptions {
  readonly node: NodeName;
  readonly store: IntentStore;
  readonly record: VolumeRecord;
  readonly logger: Logger;
  readonly links: (deliver: (event: Event) => void) => PeerLinks;
  readonly onHealth?: (health: Health) => void;
  readonly onTakeover?: (report: TakeoverReport) => void;
  /** The core started or stopped accepting consumer writes (export the volume or not). */
  readonly onServingChanged?: (serving: boolean) => void;
}

export class VolumeReplica {
  private readonly events: Event[] = [];
  private pumping = false;
  private pumpScheduled = false;
  private closed = false;
  private requestIds = 0;
  private configureIds = 0;
  private readonly pendingRequests = new Map<number, (answer: RequestAnswer) => void>();
  private readonly pendingConfigures = new Map<number, (answer: ConfigureAnswer) => void>();
  private applying: Promise<void> = Promise.resolve();
  private appliesQueued = 0;
  private appendsWaiting: { readonly log: ChangeLog; readonly entries: readonly Entry[] }[] = [];
  /** Trims, chained on their own: each starts after the applies it covers; applies never wait for one. */
  private trimming: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly links: PeerLinks;
  record: VolumeRecord;
  lastHealth: Health = { kind: 'ok' };
  lastTakeover: TakeoverReport | null = null;
  private serving = false;
  private readonly lag = new LagTracker();
  private trimTarget = 0 as Seq;
  private trimScheduled = false;
  private trimTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly options: VolumeReplicaOptions, private files: VolumeFiles, private readonly replica: Replica) {
    this.record = options.record;
    this.links = options.links((event) => this.deliver(event));
  }

  static async open(options: VolumeReplicaOptions): Promise<VolumeReplica> {
    const { record, store } = options;
    const dir = store.volumeDir(record.shape.volume);
    const files = await openVolumeFiles(dir, record.shape, true);
    const incarnation = await store.nextIncarnation(record.shape.volume);
    const limits = { ...defaultLimits(record.shape.sizeBytes), regionBytes: record.shape.regionBytes, logBytesMax: logBytesMax(files.log.sizeBytes) };
    const lastSeq = files.log.durableSeq;
    const replica = new Replica({ node: options.node, limits, bugs: NO_BUGS }, {
      intent: record.intent,
      incarnation,
      log: { firstSeq: files.log.firstSeq, lastSeq, usedBytes: files.log.usedBytes },
      appliedSeq: record.intent.role === 'bunker' ? lastSeq : files.log.appliedSeq,
      incomplete: record.intent.role === 'bunker' ? [] : files.incomplete,
      changeMapRegions: [...files.changeMap.regions()].flatMap((r) => regionIndexes(r.offset, r.length, record.shape.regionBytes)),
      dataFailed: null,
    });
    const volume = new VolumeReplica(options, files, replica);
    volume.timer = setInterval(() => volume.deliver({ kind: 'tick' }), TICK_MS);
    volume.deliver({ kind: 'tick' });
    return volume;
  }

  get name(): string {
    return this.record.shape.volume;
  }

  get data(): DataVolume | null {
    return this.files.data;
  }

  status(): ReplicaStatus {
    return this.replica.status();
  }

  /** A peer's lag behind this replica's log (meaningful on the primary). */
  lagOf(peerDurableSeq: number): Lag {
    return this.lag.lagOf(this.files.log.durableSeq, peerDurableSeq);
  }

  logUsage(): { readonly usedBytes: number; readonly sizeBytes: number; readonly entries: number; readonly batches: number } {
    const stats = this.files.log.stats;
    return { usedBytes: this.files.log.usedBytes, sizeBytes: this.files.log.sizeBytes, entries: stats.entries, batches: stats.batches };
  }

  writeCredit(): { readonly requests: number; readonly entries: number } {
    return this.replica.writeCredit();
  }

  /** Queue an event for the core; the loop steps it. */
  deliver(event: Event): void {
    if (this.closed) return;
    if (this.events.length >= EVENT_QUEUE_MAX && event.kind === 'tick') return;
    this.events.push(event);
    // Pump once per event-loop turn: the requests and acknowledgements that arrived in the same
    // turn are stepped together and leave as one Ready (one append, one batch per peer).
    if (!this.pumping) this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      if (!this.pumping) void this.pump();
    });
  }

  /** A consumer request (NBD); resolves with the core's answer. */
  submit(request: Omit<ConsumerRequest, 'id'>): Promise<RequestAnswer> {
    if (this.events.length >= EVENT_QUEUE_MAX) return Promise.reject(new VolumeBusyError('Busy', `volume ${this.name}: too many queued events`));
    const id = (this.requestIds += 1);
    return new Promise((resolve) => {
      this.pendingRequests.set(id, resolve);
      this.deliver({ kind: 'consumer-request', request: { ...request, id } });
    });
  }

  /**
   * Operator's Configure: persist the new record's shape and addresses, then step the intent.
   * `resetLogToSeq`: a failback's resynchronized replica follows from there; `clearChangeMap`:
   * the primary's failback is verified.
   */
  async configure(record: Omit<VolumeRecord, 'intent'>, intent: Intent, options: { readonly resetLogToSeq?: Seq; readonly clearChangeMap?: boolean } = {}): Promise<ConfigureAnswer> {
    this.record = { ...this.record, shape: record.shape, addresses: record.addresses };
    const configureId = (this.configureIds += 1);
    return new Promise((resolve) => {
      this.pendingConfigures.set(configureId, resolve);
      this.deliver({ kind: 'configure', configureId, intent, resetLogToSeq: options.resetLogToSeq ?? null, clearChangeMap: options.clearChangeMap ?? false });
    });
  }

  /** What a resynchronization needs to know of this replica's own history. */
  history(): { firstSeq: Seq; lastSeq: Seq; appliedSeq: Seq; dataReplaced: boolean; changeMapRegions: number[] } {
    const log = this.files.log;
    const status = this.replica.status();
    const regionBytes = this.record.shape.regionBytes;
    return {
      firstSeq: log.firstSeq,
      lastSeq: log.durableSeq,
      appliedSeq: status.appliedSeq,
      dataReplaced: this.files.dataReplaced,
      changeMapRegions: [...this.files.changeMap.regions()].flatMap((r) => regionIndexes(r.offset, r.length, regionBytes)),
    };
  }

  /** This replica's durable log entries after `afterSeq`, in blocks. */
  logEntriesAfter(afterSeq: Seq): AsyncIterable<readonly Entry[]> {
    const log = this.files.log;
    const from = Math.max(afterSeq, log.firstSeq - 1) as Seq;
    return log.readFrom(from, { entriesMax: 256, bytesMax: 8 * 1024 * 1024 });
  }

  /** The primary's change map since its takeover (what a failback compares), or null. */
  changeMapRegions(): number[] | null {
    return this.replica.changeMapRegions();
  }

  /** The change log filled under fill policy trackChanges: writes are tracked in the change map only. */
  logTracking(): boolean {
    return this.files.log.mode === 'tracking';
  }

  logFirstSeq(): Seq {
    return this.files.log.firstSeq;
  }

  /**
   * Before a resync overwrites the data volume: every entry of the old log is applied and the
   * applied mark is made durable, so a restart in the middle of the copy never replays an old
   * write over a block the copy already brought up to date.
   */
  async sealHistory(): Promise<void> {
    const log = this.files.log;
    for (let waited = 0; this.replica.status().appliedSeq < log.durableSeq; waited += 20) {
      if (waited > 30_000) throw new BunkerError('Busy', `volume ${this.name}: its log is not applied through ${log.durableSeq} after 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.applying;
    await this.trimming;
    await this.files.data?.flush();
    log.markApplied(log.durableSeq);
    await log.flush();
  }

  /** The resynchronized data volume is the new history: it is no longer a replaced one. */
  markDataResynchronized(): void {
    this.files = { ...this.files, dataReplaced: false };
  }

  attachInbound(peer: NodeName, kind: 'append' | 'ship', call: Parameters<PeerLinks['attachInbound']>[2]): void {
    this.links.attachInbound(peer, kind, call);
  }

  parkFetch(peer: NodeName, callback: Parameters<PeerLinks['parkFetch']>[1]): boolean {
    return this.links.parkFetch(peer, callback);
  }

  addressOf(node: NodeName): string | undefined {
    return this.record.addresses[node];
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (!this.closed) {
        for (let event = this.events.shift(); event !== undefined; event = this.events.shift()) this.replica.step(event);
        if (!this.replica.hasReady()) break;
        const ready = this.replica.ready();
        await this.perform(ready);
        this.replica.advance(ready);
        // Serving changes only with a new intent, a health report or a takeover step; status()
        // builds a whole object, too dear for every Ready.
        const mayChange = ready.intent !== null || ready.health !== null || ready.takeover !== null || ready.configureAnswers.length > 0;
        const serving = mayChange ? this.replica.status().serving : this.serving;
        if (serving !== this.serving) {
          this.serving = serving;
          this.options.onServingChanged?.(serving);
        }
        if (ready.answers.length > 0) {
          // The consumers' replies are written by promise jobs that run only once this loop
          // yields; what else is queued waits for the next turn, so the replies go out first.
          if (this.events.length > 0 || this.replica.hasReady()) this.schedulePump();
          break;
        }
      }
    } catch (error) {
      this.options.logger.error({ err: error, volume: this.name }, 'replica driver failed; the volume stops here');
      this.lastHealth = { kind: 'data-failed', detail: error instanceof Error ? error.message : String(error) };
      this.options.onHealth?.(this.lastHealth);
      this.failAll(error);
    } finally {
      this.pumping = false;
    }
  }

  /** Performs one Ready, in the order its ORDERING RULES give (replication/ready.ts). */
  private async perform(ready: Ready): Promise<void> {
    if (ready.intent !== null) {
      this.record = { ...this.record, intent: ready.intent };
      await this.options.store.save(this.record);
    }
    if (ready.logCut !== null) await this.cutLog(ready);
    if (ready.stagingAppend.length > 0 && this.files.staging !== null) await this.files.staging.append(ready.stagingAppend);
    if (ready.changeMapCleared) this.files.changeMap.clear();
    for (const region of ready.changeMapMarks) this.files.changeMap.mark(region * this.record.shape.regionBytes, this.record.shape.regionBytes);
    if (ready.changeMapCleared || ready.changeMapMarks.length > 0) await this.files.changeMap.flush();
    // Rule 4 lets messages leave before the local append: the bunker's round trip is the longer
    // leg of a write, so it starts first and the local write and datasync overlap it.
    for (const message of ready.messages) this.links.send(message);
    if (ready.append.length > 0) this.appendAfterSends(this.files.log, ready.append, ready.messages.length > 0);
    if (ready.apply.length > 0) this.applyEntries(ready.apply);
    for (const answer of ready.answers) this.answer(answer);
    for (const answer of ready.configureAnswers) {
      this.pendingConfigures.get(answer.configureId)?.(answer);
      this.pendingConfigures.delete(answer.configureId);
    }
    if (ready.trimThroughSeq !== null) this.trim(ready.trimThroughSeq);
    for (const read of ready.reads) this.readLog(read.readId, read.afterSeq, read.throughSeq, read.maxEntries, read.maxBytes);
    if (ready.health !== null) {
      this.lastHealth = ready.health;
      this.options.onHealth?.(ready.health);
    }
    if (ready.takeover !== null) {
      this.lastTakeover = ready.takeover;
      this.options.onTakeover?.(ready.takeover);
    }
  }

  private async cutLog(ready: Ready): Promise<void> {
    const cut = ready.logCut;
    if (cut === null) return;
    const dir = this.options.store.volumeDir(this.name);
    // An earlier Ready's append still waiting for its gRPC flush goes to the log it was made
    // for before that log is cut or replaced, as if it had been made at once.
    this.appendWaitingNow();
    await this.applying;
    await this.trimming;
    if (cut.kind === 'reset') {
      const log = await recreateLog(dir, this.record.shape, this.files.log, { epoch: this.record.intent.epoch, seq: cut.baseSeq });
      this.files = { ...this.files, log };
      this.reportLogUsage();
      return;
    }
    // Truncate: keep entries <= afterSeq. The log has no in-place truncation, so its kept
    // prefix is copied into a fresh log (bounded by the log's size).
    const kept: Entry[] = [];
    for await (const block of this.files.log.readFrom((this.files.log.firstSeq - 1) as Seq, { entriesMax: 256, bytesMax: 8 * 1024 * 1024 })) {
      for (const entry of block) if (entry.seq <= cut.afterSeq) kept.push(entry);
    }
    const first = kept[0];
    const after = first === undefined ? { epoch: this.files.log.epoch, seq: cut.afterSeq } : { epoch: 0 as Epoch, seq: (first.seq - 1) as Seq };
    const log = await recreateLog(dir, this.record.shape, this.files.log, after);
    if (kept.length > 0) await log.append(kept);
    this.files = { ...this.files, log };
    this.reportLogUsage();
  }

  /**
   * gRPC writes leave the process only when the event loop next runs its immediates; a local
   * append made now (a synchronous pwritev) would hold them back. So when this Ready sent
   * messages, its append waits for that flush; appends keep their order through one queue.
   */
  private appendAfterSends(log: ChangeLog, entries: readonly Entry[], sent: boolean): void {
    if (!sent && this.appendsWaiting.length === 0) {
      this.appendLocal(log, entries);
      return;
    }
    this.appendsWaiting.push({ log, entries });
    if (this.appendsWaiting.length === 1) setImmediate(() => this.appendWaitingNow());
  }

  private appendWaitingNow(): void {
    const waiting = this.appendsWaiting;
    this.appendsWaiting = [];
    // Closed meanwhile: these entries were never durable here, so no write of theirs was answered.
    if (this.closed) return;
    for (const append of waiting) this.appendLocal(append.log, append.entries);
  }

  private appendLocal(log: ChangeLog, entries: readonly Entry[]): void {
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    log.append(entries).then(
      (outcome) => {
        if (outcome.kind === 'durable') {
          this.lag.recordDurable(outcome.lastSeq, entries.reduce((sum, e) => sum + e.payload.length, 0));
          this.deliver({ kind: 'local-append-durable', throughSeq: outcome.lastSeq });
          this.reportLogUsage();
          this.releaseStaging(outcome.lastSeq);
        } else {
          // The core admits a write only when the log has room for it (limits.logBytesMax), so
          // the log's own fill policy is never reached; if it is, these entries will never be
          // durable and their writes would wait forever: fail the volume loudly instead.
          this.fatal(new Error(`the change log is full although the core found room for entries through ${last.seq}`), 'append to the change log');
        }
      },
      (error: unknown) => this.fatal(error, 'append to the change log'),
    );
  }

  /** Tells the core how full the change log is, for its admission of writes (LogRoom). */
  private reportLogUsage(): void {
    const log = this.files.log;
    this.deliver({ kind: 'log-usage', usedBytes: log.usedBytes, durableSeq: log.durableSeq });
  }

  /** Drained entries durable in the change log need no staging copy any more. */
  private releaseStaging(throughSeq: Seq): void {
    const staging = this.files.staging;
    if (staging === null || staging.durableSeq < staging.firstSeq) return;
    const upTo = Math.min(throughSeq, staging.durableSeq) as Seq;
    staging.markApplied(upTo);
    staging.trimBelow((upTo + 1) as Seq).catch((error: unknown) => this.options.logger.warn({ err: error, volume: this.name }, 'staging trim failed'));
  }

  private applyEntries(entries: readonly Entry[]): void {
    const data = this.files.data;
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    // Small writes are applied synchronously (DataVolume.applyAll: no thread-pool turn).
    const apply = (): Promise<void> | null => (data === null ? null : data.applyAll(entries));
    const applied = (): void => this.deliver({ kind: 'data-applied', throughSeq: last.seq });
    const failed = (error: unknown): void => this.deliver({ kind: 'data-volume-failed', detail: error instanceof Error ? error.message : String(error) });
    if (this.appliesQueued > 0) {
      this.chainApply(this.applying.then(apply).then(applied, failed));
      return;
    }
    // Nothing ahead of these: applied right here, and data-applied is stepped in this same
    // pump, so the answers go out without another turn of the event loop.
    let pending: Promise<void> | null;
    try {
      pending = apply();
    } catch (error) {
      failed(error);
      return;
    }
    if (pending === null) applied();
    else this.chainApply(pending.then(applied, failed));
  }

  /** Applies still running, in order; later ones wait for them. */
  private chainApply(work: Promise<void>): void {
    this.appliesQueued += 1;
    this.applying = work.finally(() => {
      this.appliesQueued -= 1;
    });
  }

  /**
   * Trimming frees log space; it costs an fdatasync of the data volume and two superblock
   * writes. The core allows a trim after every secondary acknowledgement; doing each one would
   * put three extra syncs on the write path. So trims are coalesced: the newest allowed point
   * is remembered and trimmed at most every TRIM_INTERVAL_MS, or at once when the log is more
   * than half full.
   */
  private trim(throughSeq: Seq): void {
    this.trimTarget = Math.max(this.trimTarget, throughSeq) as Seq;
    const log = this.files.log;
    const pressing = log.usedBytes * 2 > log.sizeBytes;
    if (this.trimScheduled && !pressing) return;
    if (this.trimTimer !== undefined) clearTimeout(this.trimTimer);
    this.trimScheduled = true;
    this.trimTimer = setTimeout(() => this.trimNow(), pressing ? 0 : TRIM_INTERVAL_MS);
  }

  private trimNow(): void {
    this.trimTimer = undefined;
    const throughSeq = this.trimTarget;
    // Off the applying chain: a trim's data fdatasync and superblock writes must not hold up
    // the applies (and the acknowledgements) queued behind it.
    const covered = this.applying;
    this.trimming = this.trimming.then(() => covered).then(async () => {
      try {
        if (this.closed) return;
        const log = this.files.log;
        if (throughSeq < log.firstSeq) return;
        // The applied mark may only cover what the data volume holds durably.
        await this.files.data?.flush();
        log.markApplied(Math.min(throughSeq, log.durableSeq) as Seq);
        await log.trimBelow((throughSeq + 1) as Seq);
        this.reportLogUsage();
      } catch (error) {
        this.options.logger.warn({ err: error, volume: this.name, throughSeq }, 'trim failed; will retry with the next one');
      } finally {
        this.trimScheduled = false;
      }
    });
  }

  private readLog(readId: number, afterSeq: Seq, throughSeq: Seq, entriesMax: number, bytesMax: number): void {
    this.files.log.readBlock(afterSeq, { entriesMax, bytesMax }).then(
      (entries) => this.deliver({ kind: 'log-read', readId, entries: entries.filter((e) => e.seq <= throughSeq) }),
      (error: unknown) => {
        this.options.logger.warn({ err: error, volume: this.name, afterSeq }, 'log read failed');
        this.deliver({ kind: 'log-read', readId, entries: [] });
      },
    );
  }

  private answer(answer: RequestAnswer): void {
    const resolve = this.pendingRequests.get(answer.id);
    this.pendingRequests.delete(answer.id);
    resolve?.(answer);
  }

  private fatal(error: unknown, what: string): void {
    this.options.logger.error({ err: error, volume: this.name }, `${what} failed`);
    this.deliver({ kind: 'data-volume-failed', detail: `${what}: ${withCauses(error)}` });
  }

  private failAll(error: unknown): void {
    const detail = error instanceof Error ? error.message : String(error);
    for (const [id, resolve] of this.pendingRequests) resolve({ kind: 'failed', id, failure: { kind: 'DataVolumeFailed', detail } });
    this.pendingRequests.clear();
  }

  /** Stops the loop after in-flight work; persists the log's marks; closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.trimTimer !== undefined) clearTimeout(this.trimTimer);
    while (this.pumping) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    this.links.close();
    await this.applying;
    await this.trimming;
    this.failAll(new Error('volume closed'));
    await this.files.log.close();
    await this.files.staging?.close();
    await this.files.data?.flush().catch(() => undefined);
    await this.files.data?.close();
    await this.files.changeMap.close();
  }
}

function regionIndexes(offset: number, length: number, regionBytes: number): number[] {
  const indexes: number[] = [];
  for (let region = Math.floor(offset / regionBytes); region * regionBytes < offset + length; region += 1) indexes.push(region);
  return indexes;
}

/**
 * What the core may fill of a change log of `sizeBytes` (limits.logBytesMax): its data region
 * less the most a wrap around the end can skip (one largest record, which the estimate does
 * not count) and a header of slack. Logs too small for that reserve (below about 8.4 MiB:
 * only tests make them) keep half their region; a wrap there can still reach the log's own
 * fill policy, which then fails the volume rather than leaving writes waiting.
 */
export function logBytesMax(sizeBytes: number): number {
  const region = sizeBytes - DATA_START_POSITION;
  const reserve = LOG_ENTRY_BYTES_MAX + 3 * ENTRY_HEADER_BYTES + 1;
  return Math.max(region - reserve, Math.floor(region / 2));
}

/** An error's message followed by its causes' (the errno a storage error wraps is what an operator needs). */
function withCauses(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth += 1) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ');
}
