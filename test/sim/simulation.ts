// Method: one seeded run of a whole volume: three nodes (primary, bunker, secondary, roles
// shuffled by the seed), the operator, a client, the disks and the network of this folder.
// Each step the scheduler picks one enabled action at random (weighted): issue a request,
// deliver the head of a stream, complete a log sync, an apply, a log read or a data sync,
// advance the clock (ticks), reconcile the operator, or inject a fault (crash, partition of a
// replica link or an operator link, data volume failure, takeover request, volume repair).
// Checkers run after every step. Then every fault is healed and the run continues without
// faults or new requests until the replicas converge, which is checked too.
// Same seed, same run: all randomness comes from one Prng.
import type { NodeName } from '@bunker/proto/ids';
import { EPOCH_NONE, nodeName } from '@bunker/proto/ids';
import { DEFAULT_MODES, NO_BUGS, persisted, type Modes, type PeerMessage, type ReplicaLimits, type TestOnlyBugs } from '../../agent/src/replication/index.js';
import { Checkers, SimViolation } from './checkers.js';
import { FaultInjector } from './fault-injector.js';
import { Prng } from './prng.js';
import { SimClient } from './sim-client.js';
import { SimDisk } from './sim-disk.js';
import { SimNetwork } from './sim-network.js';
import { SimNode } from './sim-node.js';
import { SimOperator } from './sim-operator.js';
import { Trace } from './trace.js';
import { WriteOracle } from './write-oracle.js';

export interface SimOptions {
  readonly seed: number;
  /** Steps with faults and client traffic. */
  readonly steps: number;
  /** Steps allowed, after healing, to converge. */
  readonly settleStepsMax: number;
  readonly bugs: TestOnlyBugs;
  readonly traceLength: number;
}

export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, 'seed'> = { steps: 500, settleStepsMax: 4000, bugs: NO_BUGS, traceLength: 60 };

export interface SimStats {
  steps: number;
  acknowledged: number;
  failed: number;
  crashes: number;
  partitions: number;
  takeovers: number;
  failbacks: number;
  messages: number;
}

export interface SimResult {
  readonly seed: number;
  readonly violation: { readonly checker: string; readonly message: string; readonly step: number } | null;
  readonly trace: readonly string[];
  readonly stats: SimStats;
}

const BLOCK_BYTES = 16;
const BLOCK_COUNT = 32;
const TICK_MS = 100;

export function simLimits(): ReplicaLimits {
  return {
    volumeBytes: BLOCK_BYTES * BLOCK_COUNT,
    blockBytes: BLOCK_BYTES,
    regionBytes: BLOCK_BYTES * 4,
    windowEntriesMax: 12,
    windowBytesMax: 1200,
    pendingRequestsMax: 6,
    logBytesMax: Number.POSITIVE_INFINITY,
    batchEntriesMax: 3,
    batchBytesMax: 400,
    inflightEntriesMax: 6,
    inflightBytesMax: 700,
    applyQueueEntriesMax: 12,
    applyQueueBytesMax: 1400,
    fetchEntriesMax: 4,
    fetchBytesMax: 500,
    heartbeatTicks: 2,
    resendTicks: 6,
    peerTimeoutTicks: 10,
    fetchTimeoutTicks: 5,
  };
}

type Action = 'issue' | 'deliver' | 'sync-log' | 'apply' | 'read' | 'sync-data' | 'clock' | 'operator' | 'fault';

export class Simulation {
  readonly prng: Prng;
  readonly trace: Trace;
  readonly nodes = new Map<NodeName, SimNode>();
  readonly network = new SimNetwork(64);
  readonly oracle = new WriteOracle(BLOCK_COUNT);
  readonly client = new SimClient(this.oracle, BLOCK_BYTES, BLOCK_COUNT, 4);
  readonly operator: SimOperator;
  readonly checkers: Checkers;
  readonly faults: FaultInjector;
  readonly modes: Modes;
  /** Operator-to-node links that are cut (Lease not renewed, configure calls fail). */
  readonly operatorCut = new Set<NodeName>();
  time = 0;
  step = 0;
  private settling = false;
  readonly stats: SimStats = { steps: 0, acknowledged: 0, failed: 0, crashes: 0, partitions: 0, takeovers: 0, failbacks: 0, messages: 0 };

  constructor(readonly options: SimOptions) {
    this.prng = new Prng(options.seed);
    this.trace = new Trace(options.traceLength, () => `t${this.time} #${this.step}`);
    this.modes = { ...DEFAULT_MODES, secondary: this.prng.chance(0.3) ? 'sync' : 'async' };
    const names = [nodeName('n1'), nodeName('n2'), nodeName('n3')];
    const [primary, bunker, secondary] = shuffle(this.prng, names);
    if (primary === undefined || bunker === undefined || secondary === undefined) throw new Error('three nodes');
    const config = (node: NodeName) => ({ node, limits: simLimits(), bugs: options.bugs });
    for (const name of names) {
      const intent = persisted({ role: 'none', epoch: EPOCH_NONE, modes: this.modes, primary: null, bunker: null, secondary: null }, null, null);
      const node = new SimNode(name, new SimDisk(BLOCK_BYTES * BLOCK_COUNT, BLOCK_BYTES, intent), config(name), this.hooks());
      this.nodes.set(name, node);
    }
    const manual = this.prng.chance(0.25);
    this.operator = new SimOperator(
      {
        nodes: this.nodes,
        reachable: (node) => this.nodes.get(node)?.up === true && !this.operatorCut.has(node),
        trace: (line) => this.trace.add(line),
        regionBytes: BLOCK_BYTES * 4,
        volumeBytes: BLOCK_BYTES * BLOCK_COUNT,
      },
      { mode: manual ? 'manual' : 'automatic', gracePeriodTicks: 8, tickMs: TICK_MS, modes: this.modes },
      { primary, bunker, secondary },
    );
    this.checkers = new Checkers({ nodes: this.nodes, operator: this.operator, oracle: this.oracle, blockBytes: BLOCK_BYTES, blockCount: BLOCK_COUNT, modes: this.modes });
    this.faults = new FaultInjector(this);
    this.trace.add(`seed ${options.seed}: primary ${primary}, bunker ${bunker}, secondary ${secondary}; secondary mode ${this.modes.secondary}, failover ${manual ? 'manual' : 'automatic'}`);
  }

  private hooks(): ConstructorParameters<typeof SimNode>[3] {
    return {
      send: (from, to, message) => {
        this.stats.messages += 1;
        this.network.send(from, to, message);
      },
      answered: (node, answer) => {
        const op = this.client.onAnswer(answer);
        if (op === null) return;
        this.trace.add(`${node.name} answers ${op.op}#${op.counter} ${answer.kind === 'ok' ? `ok seq ${answer.seq}` : answer.failure.kind}`);
        if (answer.kind === 'ok') this.checkers.onAcknowledged(node, op, answer);
      },
      appended: (node, entries) => this.checkers.onAppend(node, entries),
      reported: (node, what) => this.trace.add(`${node.name}: ${what}`),
      violation: (checker, message) => {
        throw new SimViolation(checker, message);
      },
    };
  }

  run(): SimResult {
    try {
      for (const node of this.nodes.values()) node.start();
      this.operator.reconcile(this.time);
      for (; this.step < this.options.steps; this.step += 1) this.once(true);
      this.settle();
      return this.result(null);
    } catch (error) {
      if (error instanceof SimViolation) return this.result({ checker: error.checker, message: error.message, step: this.step });
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return this.result({ checker: 'exception', message, step: this.step });
    }
  }

  private once(withFaults: boolean): void {
    const action = this.pickAction(withFaults);
    this.perform(action);
    this.checkers.afterStep();
  }

  private pickAction(withFaults: boolean): Action {
    const up = [...this.nodes.values()].filter((n) => n.up);
    const choices: [Action, number][] = [
      ['clock', 10],
      ['operator', 4],
      ['sync-data', 2],
    ];
    if (withFaults && this.client.canIssue()) choices.push(['issue', 14]);
    if (this.network.pending() > 0) choices.push(['deliver', 30]);
    if (up.some((n) => n.canSyncLog())) choices.push(['sync-log', 12]);
    if (up.some((n) => n.canApply())) choices.push(['apply', 12]);
    if (up.some((n) => n.canRead())) choices.push(['read', 10]);
    if (withFaults) choices.push(['fault', 1]);
    return this.prng.weighted(choices);
  }

  private perform(action: Action): void {
    switch (action) {
      case 'issue':
        return this.issue();
      case 'deliver':
        return this.deliver();
      case 'sync-log': {
        const node = this.prng.pick([...this.nodes.values()].filter((n) => n.canSyncLog()));
        this.trace.add(`${node.name} log sync -> durable ${node.syncLog()}`);
        return;
      }
      case 'apply': {
        const node = this.prng.pick([...this.nodes.values()].filter((n) => n.canApply()));
        this.trace.add(`${node.name} ${node.applySome(this.prng)}`);
        return;
      }
      case 'read': {
        const node = this.prng.pick([...this.nodes.values()].filter((n) => n.canRead()));
        this.trace.add(`${node.name} ${node.readOne()}`);
        return;
      }
      case 'sync-data': {
        const node = this.prng.pick([...this.nodes.values()]);
        if (node.up) node.syncData();
        return;
      }
      case 'clock':
        return this.clock();
      case 'operator':
        return this.operator.reconcile(this.time);
      case 'fault':
        return this.faults.inject();
    }
  }

  private issue(): void {
    const target = this.nodes.get(this.operator.status.primary);
    if (target === undefined || !target.up) return;
    const op = this.client.issue(this.prng, target);
    this.trace.add(`client -> ${target.name} ${op.op}#${op.counter}${op.blocks > 0 ? ` blocks ${op.firstBlock}+${op.blocks}` : ''}${op.fua ? ' fua' : ''}`);
  }

  private deliver(): void {
    const message = this.network.take(this.prng);
    if (message === null) return;
    const target = this.nodes.get(message.to);
    this.trace.add(`deliver ${message.from}->${message.to} ${describeMessage(message.message)}`);
    if (target === undefined || !target.up) return;
    if (this.prng.chance(0.03)) this.network.duplicate(message);
    target.step({ kind: 'message', from: message.from, message: message.message });
  }

  private clock(): void {
    this.time += 1;
    this.faults.onClock();
    for (const node of this.nodes.values()) if (node.up && this.prng.chance(0.9)) node.step({ kind: 'tick' });
  }

  /** Heal everything, stop the client's new requests, and let the system converge. */
  private settle(): void {
    this.settling = true;
    this.faults.healAll();
    this.trace.add('settle: faults healed, no new requests');
    for (let i = 0; i < this.options.settleStepsMax; i += 1, this.step += 1) {
      if (this.isConverged()) {
        this.checkers.converged();
        return;
      }
      this.faults.repairIfDue();
      this.askForTakeoverIfStuck();
      this.once(false);
    }
    throw new SimViolation('converged', `did not converge within ${this.options.settleStepsMax} steps after healing: ${this.describeState()}`);
  }

  /** Manual failover mode: a failed primary data volume is taken over when the user asks. */
  private askForTakeoverIfStuck(): void {
    const status = this.operator.status;
    const primary = this.nodes.get(status.primary);
    if (status.manualRequest !== null || status.takeover !== null || primary?.disk.dataFailed == null) return;
    this.trace.add('settle: the user requests a takeover of the failed primary');
    this.operator.requestTakeover('settle');
  }

  isSettling(): boolean {
    return this.settling;
  }

  private isConverged(): boolean {
    const status = this.operator.status;
    if (status.takeover !== null || status.secondary === null || this.network.pending() > 0 || this.client.outstanding.size > 0) return false;
    const primary = this.nodes.get(status.primary);
    const secondary = this.nodes.get(status.secondary);
    const bunker = this.nodes.get(status.bunker);
    if (primary?.replica == null || secondary?.replica == null || bunker?.replica == null) return false;
    if (![primary, secondary, bunker].every((n) => n.idle())) return false;
    const p = primary.replica.status();
    const s = secondary.replica.status();
    const b = bunker.replica.status();
    const tail = p.log.lastSeq;
    return p.serving && p.appliedSeq === tail && s.appliedSeq === tail && s.log.durableSeq === tail && b.log.durableSeq === tail && s.intent.primary === primary.name;
  }

  describeState(): string {
    const status = this.operator.status;
    const nodes = [...this.nodes.values()].map((n) => {
      const s = n.replica?.status();
      return s === undefined
        ? `${n.name}: down`
        : `${n.name}: ${s.role}@${s.epoch} ${s.machine} last ${s.log.lastSeq} durable ${s.log.durableSeq} applied ${s.appliedSeq} health ${s.health.kind}`;
    });
    return `status epoch ${status.epoch} primary ${status.primary} secondary ${status.secondary} takeover ${status.takeover?.target ?? '-'} rule ${status.lastRule}; ${nodes.join('; ')}; network ${this.network.pending()} queued; client ${this.client.outstanding.size} outstanding`;
  }

  private result(violation: SimResult['violation']): SimResult {
    this.stats.steps = this.step;
    this.stats.acknowledged = this.client.acknowledged;
    this.stats.failed = this.client.failed;
    this.stats.takeovers = this.operator.status.takeovers;
    this.stats.failbacks = this.operator.status.failbacks;
    return { seed: this.options.seed, violation, trace: this.trace.lines(), stats: this.stats };
  }
}

function shuffle<T>(prng: Prng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = prng.int(i + 1);
    const a = out[i];
    const b = out[j];
    if (a === undefined || b === undefined) continue;
    out[i] = b;
    out[j] = a;
  }
  return out;
}

export function describeMessage(message: PeerMessage): string {
  switch (message.kind) {
    case 'append':
    case 'ship': {
      const first = message.entries[0]?.seq;
      const last = message.entries[message.entries.length - 1]?.seq;
      const range = first === undefined ? 'empty' : `${first}..${last}`;
      const extra = message.kind === 'append' ? ` trim ${message.trimSeq}${message.truncateAfterSeq === null ? '' : ` truncate>${message.truncateAfterSeq}`}` : ` commit ${message.commitSeq}`;
      return `${message.kind} e${message.epoch} s${message.session}${message.hello ? ' hello' : ''} ${range}${extra}`;
    }
    case 'append-ack':
      return `append-ack e${message.epoch} s${message.session}${message.hello ? ' hello' : ''} durable ${message.durableSeq}`;
    case 'ship-ack':
      return `ship-ack e${message.epoch} s${message.session}${message.hello ? ' hello' : ''} durable ${message.durableSeq} applied ${message.appliedSeq}`;
    case 'fetch-request':
      return `fetch-request e${message.epoch} after ${message.afterSeq}`;
    case 'fetch-block':
      return `fetch-block e${message.epoch} after ${message.afterSeq} ${message.entries.length} entries bunker ${message.bunkerFirstSeq}..${message.bunkerDurableSeq}`;
    case 'stale-epoch':
      return `stale-epoch e${message.epoch} refused ${message.refused}`;
  }
}

export function runSimulation(seed: number, overrides: Partial<Omit<SimOptions, 'seed'>> = {}): SimResult {
  return new Simulation({ ...DEFAULT_SIM_OPTIONS, ...overrides, seed }).run();
}
