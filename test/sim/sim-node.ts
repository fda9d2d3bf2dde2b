// Method: one simulated agent: a Replica from the core plus a driver that follows the Ready
// ordering rules against a SimDisk, with every I/O completion (log sync, data apply, log read,
// data sync) left for the scheduler to run later, in any order the rules allow. A crash throws
// away the replica and all in-flight I/O; a restart rebuilds the replica from the disk alone.
import type { NodeName, Seq } from '@bunker/proto/ids';
import type { Entry } from '../../agent/src/log/entry.js';
import {
  Replica,
  type Event,
  type Health,
  type LogRead,
  type PeerMessage,
  type Ready,
  type ReplicaConfig,
  type RequestAnswer,
  type TakeoverReport,
} from '../../agent/src/replication/index.js';
import type { Prng } from './prng.js';
import type { SimDisk } from './sim-disk.js';

export interface NodeHooks {
  send(from: NodeName, to: NodeName, message: PeerMessage): void;
  answered(node: SimNode, answer: RequestAnswer): void;
  appended(node: SimNode, entries: readonly Entry[]): void;
  reported(node: SimNode, what: string): void;
  violation(checker: string, message: string): never;
}

const digests = new WeakMap<Entry, string>();

/** A stable fingerprint of an entry, to compare histories across replicas (cached: entries are immutable). */
export function entryDigest(entry: Entry): string {
  const cached = digests.get(entry);
  if (cached !== undefined) return cached;
  let hash = 0x811c9dc5;
  const payload = entry.payload;
  for (let i = 0; i < payload.length; i += 1) hash = Math.imul(hash ^ (payload[i] ?? 0), 0x01000193) >>> 0;
  const digest = `${entry.epoch}:${entry.seq}:${entry.kind}:${entry.offset}+${entry.length}:${hash.toString(16)}`;
  digests.set(entry, digest);
  return digest;
}

export class SimNode {
  replica: Replica | null = null;
  /** seq -> digest of what this node's change log holds or held at that sequence. */
  readonly record = new Map<number, string>();
  /** seq -> digest of the entry last applied to this node's data volume at that sequence. */
  readonly appliedRecord = new Map<number, string>();
  appliedThrough: Seq = 0 as Seq;
  health: Health = { kind: 'ok' };
  lastTakeover: TakeoverReport | null = null;
  restartAtTime: number | null = null;
  private applies: Entry[] = [];
  private reads: LogRead[] = [];

  constructor(
    readonly name: NodeName,
    readonly disk: SimDisk,
    private readonly config: ReplicaConfig,
    private readonly hooks: NodeHooks,
  ) {}

  get up(): boolean {
    return this.replica !== null;
  }

  start(): void {
    const disk = this.disk;
    disk.bootCount += 1;
    const bunker = disk.intent.role === 'bunker';
    const applied = bunker ? disk.lastSeq : (Math.min(Math.max(disk.appliedMark, disk.baseSeq), disk.lastSeq) as Seq);
    this.appliedThrough = applied;
    this.health = { kind: 'ok' };
    this.replica = new Replica(this.config, {
      intent: disk.intent,
      incarnation: disk.bootCount,
      log: { firstSeq: disk.firstSeq, lastSeq: disk.lastSeq },
      appliedSeq: applied,
      incomplete: bunker ? [] : disk.log.slice(applied - disk.baseSeq),
      changeMapRegions: [...disk.changeMap],
      dataFailed: disk.dataFailed,
    });
    this.drain();
  }

  crash(prng: Prng): string {
    this.replica = null;
    this.applies = [];
    this.reads = [];
    const report = this.disk.crash(prng);
    return `lost ${report.lostEntries} unsynced entries${report.tornSeq === null ? '' : `, tore ${report.tornSeq}`}, lost ${report.lostBlocks} unsynced blocks`;
  }

  step(event: Event): void {
    if (this.replica === null) return;
    this.replica.step(event);
    this.drain();
  }

  private drain(): void {
    const replica = this.replica;
    if (replica === null) return;
    for (let round = 0; replica.hasReady(); round += 1) {
      if (round > 1000) this.hooks.violation('liveness', `${this.name}: the replica never stops producing Ready`);
      const ready = replica.ready();
      this.handle(ready);
      replica.advance(ready);
    }
  }

  /** The ordering rules of agent/src/replication/ready.ts, in order. */
  private handle(ready: Ready): void {
    const disk = this.disk;
    if (ready.intent !== null) disk.intent = ready.intent;
    if (ready.logCut !== null) this.cut(ready.logCut);
    disk.staging.push(...ready.stagingAppend);
    if (disk.staging.length > 256) disk.staging = disk.staging.slice(-128);
    for (const entry of ready.append) {
      if (!disk.append(entry)) this.hooks.violation('log', `${this.name}: append of ${entry.seq} after ${disk.lastSeq}`);
      this.record.set(entry.seq, entryDigest(entry));
    }
    if (ready.append.length > 0) this.hooks.appended(this, ready.append);
    if (ready.changeMapCleared) disk.changeMap.clear();
    for (const region of ready.changeMapMarks) disk.changeMap.add(region);
    for (const out of ready.messages) this.hooks.send(this.name, out.to, out.message);
    this.applies.push(...ready.apply);
    for (const answer of ready.answers) this.hooks.answered(this, answer);
    for (const answer of ready.configureAnswers) this.hooks.reported(this, `configure ${answer.kind}${answer.kind === 'rejected' ? ` ${JSON.stringify(answer.rejection)}` : ''}`);
    if (ready.trimThroughSeq !== null) this.trim(ready.trimThroughSeq);
    this.reads.push(...ready.reads);
    if (ready.health !== null) {
      this.health = ready.health;
      this.hooks.reported(this, `health ${JSON.stringify(ready.health)}`);
    }
    if (ready.takeover !== null) {
      this.lastTakeover = ready.takeover;
      this.hooks.reported(this, `takeover ${JSON.stringify(ready.takeover)}`);
    }
  }

  private cut(cut: NonNullable<Ready['logCut']>): void {
    const disk = this.disk;
    if (cut.kind === 'truncate') {
      if (disk.lastSeq > disk.durableSeq) this.hooks.violation('log', `${this.name}: truncate with appends in flight`);
      disk.truncateAfter(cut.afterSeq);
      for (const seq of [...this.record.keys()]) if (seq > cut.afterSeq) this.record.delete(seq);
      return;
    }
    if (this.applies.length > 0) this.hooks.violation('log', `${this.name}: log reset with applies in flight`);
    // The log that could replay earlier applies is about to go: the volume must be durable first.
    disk.syncVolume();
    disk.reset(cut.baseSeq);
    this.record.clear();
    this.appliedRecord.clear();
    this.appliedThrough = cut.baseSeq;
  }

  private trim(seq: Seq): void {
    const disk = this.disk;
    if (disk.intent.role !== 'bunker') {
      this.syncData(); // rule 8: the volume is durable through the trim point first
      if (seq > disk.appliedMark) this.hooks.violation('log', `${this.name}: trim through ${seq} above the applied mark ${disk.appliedMark}`);
    }
    disk.trimThrough(seq);
  }

  // ---- I/O completions the scheduler runs -------------------------------------------------

  canSyncLog(): boolean {
    return this.up && this.disk.lastSeq > this.disk.durableSeq;
  }

  syncLog(): Seq {
    const seq = this.disk.syncLog();
    this.step({ kind: 'local-append-durable', throughSeq: seq });
    return seq;
  }

  canApply(): boolean {
    return this.up && this.applies.length > 0;
  }

  /** Writes a random number of the pending applies, in order. */
  applySome(prng: Prng): string {
    const count = prng.between(1, this.applies.length);
    const batch = this.applies.splice(0, count);
    if (this.disk.dataFailed !== null) {
      this.applies = [];
      return 'apply failed: data volume I/O error';
    }
    for (const entry of batch) {
      this.disk.writeVolume(entry);
      this.appliedRecord.set(entry.seq, entryDigest(entry));
    }
    const last = batch[batch.length - 1];
    if (last === undefined) return 'nothing to apply';
    this.appliedThrough = last.seq;
    this.step({ kind: 'data-applied', throughSeq: last.seq });
    return `applied ${batch[0]?.seq}..${last.seq}`;
  }

  canRead(): boolean {
    return this.up && this.reads.length > 0;
  }

  readOne(): string {
    const read = this.reads.shift();
    if (read === undefined) return 'nothing to read';
    const entries: Entry[] = [];
    let bytes = 0;
    for (const entry of this.disk.read(read.afterSeq, read.throughSeq, read.maxEntries)) {
      bytes += entry.payload.length + 40;
      if (entries.length > 0 && bytes > read.maxBytes) break;
      entries.push(entry);
    }
    this.step({ kind: 'log-read', readId: read.readId, entries });
    return `read ${read.afterSeq}+ -> ${entries.length} entries`;
  }

  syncData(): void {
    if (this.disk.dataFailed !== null) return;
    this.disk.syncVolume();
    if (this.appliedThrough > this.disk.appliedMark) this.disk.appliedMark = this.appliedThrough;
  }

  failData(detail: string): void {
    this.disk.dataFailed = detail;
    this.step({ kind: 'data-volume-failed', detail });
  }

  idle(): boolean {
    return !this.canSyncLog() && this.applies.length === 0 && this.reads.length === 0;
  }
}
