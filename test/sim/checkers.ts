// Method: the invariants the whole system exists for, checked after every simulated step
// (and at each acknowledgement) against the disks themselves, never against what the
// replicas believe:
//  1. acknowledged-durable: every acknowledged write would survive losing the primary now:
//     the takeover source's durable state (synced volume + durable log) plus the bunker's
//     durable log copy after it holds it (or something the oracle accepts in its place);
//  2. ack-time: when a write is acknowledged it is durable in the primary's log and applied
//     there, durable in the bunker's log copy (recovery: sync) and on the secondary
//     (secondary: sync); a FLUSH/FUA only once everything before it is durable in both logs;
//  3. single-writer: at most one node creates entries in, and acknowledges writes in, an epoch;
//  4. prefix: the bunker's log copy, the secondary's log and its applied history agree with
//     the current primary's log at every sequence both hold;
//  5. primary-holds-acked: the serving primary's volume holds every acknowledged write (after
//     a takeover: the new primary, with the last acknowledged content) and no garbage;
//  6. converged (end of a run, faults healed): primary and secondary volumes byte-identical,
//     and the bunker's log copy holds nothing the secondary lacks.
import type { NodeName } from '@bunker/proto/ids';
import type { Entry } from '../../agent/src/log/entry.js';
import type { Modes, RequestAnswer } from '../../agent/src/replication/index.js';
import { decodeBlock, describeContent } from './block-content.js';
import type { ClientOp } from './sim-client.js';
import { entryDigest, type SimNode } from './sim-node.js';
import type { SimOperator } from './sim-operator.js';
import type { WriteOracle } from './write-oracle.js';

export class SimViolation extends Error {
  constructor(
    readonly checker: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CheckedWorld {
  readonly nodes: ReadonlyMap<NodeName, SimNode>;
  readonly operator: SimOperator;
  readonly oracle: WriteOracle;
  readonly blockBytes: number;
  readonly blockCount: number;
  readonly modes: Modes;
}

export class Checkers {
  private readonly creators = new Map<number, NodeName>();
  private readonly ackers = new Map<number, NodeName>();

  constructor(private readonly world: CheckedWorld) {}

  private node(name: NodeName): SimNode {
    const node = this.world.nodes.get(name);
    if (node === undefined) throw new Error(`no node ${name}`);
    return node;
  }

  /** 3: entries of epoch e are created by one node only. */
  onAppend(node: SimNode, entries: readonly Entry[]): void {
    const intent = node.disk.intent;
    if (intent.role !== 'primary' || intent.drain !== null) return;
    for (const entry of entries) {
      if (entry.epoch !== intent.epoch) continue;
      const creator = this.creators.get(entry.epoch);
      if (creator !== undefined && creator !== node.name) {
        throw new SimViolation('single-writer', `epoch ${entry.epoch}: ${node.name} created entry ${entry.seq}, but ${creator} already writes in it`);
      }
      this.creators.set(entry.epoch, node.name);
    }
  }

  /** 2 and 3, at the moment a consumer is told "done". */
  onAcknowledged(node: SimNode, op: ClientOp, answer: RequestAnswer & { kind: 'ok' }): void {
    const epoch = node.disk.intent.epoch;
    const acker = this.ackers.get(epoch);
    if (acker !== undefined && acker !== node.name) throw new SimViolation('single-writer', `epoch ${epoch}: ${node.name} acknowledged #${op.counter}, but ${acker} already does`);
    this.ackers.set(epoch, node.name);
    const seq = answer.seq;
    const where = `${op.op}#${op.counter} (seq ${seq}) acknowledged by ${node.name}`;
    if (node.disk.durableSeq < seq) throw new SimViolation('ack-time', `${where}: not durable in its own log (durable ${node.disk.durableSeq})`);
    const digest = node.record.get(seq);
    if (this.world.modes.recovery === 'sync') this.heldBy(this.node(this.world.operator.status.bunker), seq, digest, `${where}: bunker`);
    const secondary = node.disk.intent.secondary;
    if (this.world.modes.secondary === 'sync' && secondary !== null) this.heldBy(this.node(secondary), seq, digest, `${where}: secondary`);
    if (op.op === 'flush') return;
    for (let b = op.firstBlock; b < op.firstBlock + op.blocks; b += 1) {
      const problem = this.world.oracle.judge(b, decodeBlock(node.disk.current, b * this.world.blockBytes, b));
      if (problem !== null) throw new SimViolation('ack-time', `${where}: not applied: block ${b} holds ${problem}`);
    }
  }

  /** Durable at `holder` through seq, with the same entry at seq (unless trimmed away). */
  private heldBy(holder: SimNode, seq: number, digest: string | undefined, what: string): void {
    const disk = holder.disk;
    if (disk.durableSeq < seq) throw new SimViolation('ack-time', `${what} durable only through ${disk.durableSeq}`);
    const entry = disk.entry(seq);
    if (entry !== undefined && digest !== undefined && entryDigest(entry) !== digest) {
      throw new SimViolation('ack-time', `${what} holds a different entry at ${seq}: ${entryDigest(entry)} vs ${digest}`);
    }
  }

  afterStep(): void {
    this.acknowledgedDurable();
    this.prefix();
    this.primaryHoldsAcked();
  }

  /** 1: what a takeover right now would recover covers every acknowledged write. */
  private acknowledgedDurable(): void {
    const status = this.world.operator.status;
    const source = this.node(status.takeover?.target ?? status.secondary ?? status.primary);
    const bunker = this.node(status.bunker);
    const image = this.recoverable(source, bunker);
    for (const b of this.world.oracle.ackedBlocks()) {
      const content = decodeBlock(image, b * this.world.blockBytes, b);
      const problem = this.world.oracle.judge(b, content);
      if (problem !== null) {
        throw new SimViolation(
          'acknowledged-durable',
          `block ${b}: ${problem}; recoverable from ${source.name} (durable through ${source.disk.durableSeq}, applied mark ${source.disk.appliedMark}) + bunker ${bunker.name} (first ${bunker.disk.firstSeq}, durable ${bunker.disk.durableSeq}) it holds ${describeContent(content)}`,
        );
      }
    }
  }

  /** The source's durable volume, its durable log above the applied mark, then the bunker's. */
  private recoverable(source: SimNode, bunker: SimNode): Uint8Array {
    const image = source.disk.durable.slice();
    const apply = (entry: Entry): void => {
      if (entry.kind === 'write') image.set(entry.payload, entry.offset);
      else if (entry.kind !== 'flush') image.fill(0, entry.offset, entry.offset + entry.length);
    };
    const disk = source.disk;
    for (let seq = disk.appliedMark + 1; seq <= disk.durableSeq; seq += 1) {
      const entry = disk.entry(seq);
      if (entry !== undefined) apply(entry);
    }
    const tail = disk.durableSeq;
    // A hole between the source and the bunker's first entry means nothing after it is recoverable.
    if (source !== bunker && bunker.disk.firstSeq <= tail + 1) {
      for (let seq = tail + 1; seq <= bunker.disk.durableSeq; seq += 1) {
        const entry = bunker.disk.entry(seq);
        if (entry === undefined) break;
        apply(entry);
      }
    }
    return image;
  }

  /** 4: replicas agree with the current primary's log wherever both hold a sequence. */
  private prefix(): void {
    const status = this.world.operator.status;
    const owner = this.node(status.takeover?.target ?? status.primary);
    const followers = [status.bunker, status.takeover === null ? status.secondary : null];
    for (const name of followers) {
      if (name === null || name === owner.name) continue;
      const follower = this.node(name);
      for (const entry of follower.disk.log) {
        const expected = owner.record.get(entry.seq);
        const actual = entryDigest(entry);
        if (expected !== undefined && expected !== actual) {
          throw new SimViolation('prefix', `${name}'s log holds ${actual} where primary ${owner.name}'s log holds ${expected}`);
        }
      }
      if (name === status.bunker) continue;
      for (const [seq, actual] of follower.appliedRecord) {
        const expected = owner.record.get(seq);
        if (expected !== undefined && expected !== actual) {
          throw new SimViolation('prefix', `${name} applied ${actual} where primary ${owner.name}'s log holds ${expected}`);
        }
      }
    }
  }

  /** 5: a serving primary's volume holds every acknowledged write, and no garbage. */
  private primaryHoldsAcked(): void {
    const status = this.world.operator.status;
    if (status.takeover !== null) return;
    const owner = this.node(status.primary);
    const machine = owner.replica?.machineState();
    if (owner.disk.dataFailed !== null || (machine !== 'serving' && machine !== 'stalled')) return;
    for (let b = 0; b < this.world.blockCount; b += 1) {
      const problem = this.world.oracle.judge(b, decodeBlock(owner.disk.current, b * this.world.blockBytes, b));
      if (problem !== null) throw new SimViolation('primary-holds-acked', `primary ${owner.name} (epoch ${owner.disk.intent.epoch}) block ${b}: ${problem}`);
    }
  }

  /** 6: after the faults are healed and the system settled. */
  converged(): void {
    const status = this.world.operator.status;
    const primary = this.node(status.primary);
    if (status.secondary === null) throw new SimViolation('converged', 'no secondary after convergence');
    const secondary = this.node(status.secondary);
    const bunker = this.node(status.bunker);
    const a = primary.disk.current;
    const b = secondary.disk.current;
    for (let i = 0; i < a.length; i += 1) {
      if (a[i] !== b[i]) {
        const block = Math.floor(i / this.world.blockBytes);
        const at = block * this.world.blockBytes;
        throw new SimViolation(
          'converged',
          `volumes differ at block ${block}: primary ${primary.name} ${describeContent(decodeBlock(a, at, block))}, secondary ${secondary.name} ${describeContent(decodeBlock(b, at, block))}`,
        );
      }
    }
    if (bunker.disk.durableSeq > secondary.disk.durableSeq) {
      throw new SimViolation('converged', `bunker holds through ${bunker.disk.durableSeq}, secondary only through ${secondary.disk.durableSeq}`);
    }
  }
}
