// One volume's replica on one node: the state machine the agent's driver runs. It holds the
// persisted intent and the machine of the current role (none, primary, bunker, secondary),
// swaps machines on role changes the way raft swaps step functions, and hands the driver one
// Ready at a time (see ready.ts for the ordering rules).
//
//   const replica = new Replica(config, restoredState);
//   replica.step(event) ... replica.tick();
//   const rd = replica.ready(); /* persist, cut, append, send, apply, answer, trim, read */ replica.advance(rd);
//
// Two rules live here rather than in each role: any request (append, ship, fetch) carrying an
// epoch older than ours is answered stale-epoch, so a fenced sender learns it at once; and a
// configure is validated in one place (role-change.ts) before its intent is persisted.
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import { EPOCH_NONE, SEQ_NONE } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import { assert, unreachable } from './assert.js';
import { Bunker } from './bunker.js';
import { ChangeMap } from './change-map.js';
import type { ReplicaConfig } from './config.js';
import type { ConfigureEvent, Event } from './event.js';
import { Fenced } from './fenced.js';
import { DEFAULT_MODES, persisted, type PersistedIntent, type Role } from './intent.js';
import { isPeerRequest, type PeerMessage } from './message.js';
import { Primary } from './primary.js';
import { ReadyBuilder, type Health, type Ready } from './ready.js';
import type { ConsumerRequest } from './request.js';
import { planRoleChange, type RoleChange } from './role-change.js';
import { LogRoom } from './log-room.js';
import type { Carried, RoleContext, RoleMachine, RoleSignal, RoleStatus } from './role-machine.js';
import { Secondary } from './secondary.js';

/** What the driver read back from disk at start: the last persisted intent and the log. */
export interface RestoredState {
  readonly intent: PersistedIntent;
  /** Strictly increasing across starts of this replica (a persisted boot counter). */
  readonly incarnation: number;
  /**
   * After crash recovery (torn tail cut): everything in the log is durable. usedBytes: its
   * bytes in use, when the driver bounds the log (limits.logBytesMax); 0 otherwise.
   */
  readonly log: { readonly firstSeq: Seq; readonly lastSeq: Seq; readonly usedBytes?: number };
  /** The persisted applied mark. */
  readonly appliedSeq: Seq;
  /** Entries (appliedSeq, lastSeq] of the log, in order: incomplete writes to apply again. Empty for a bunker. */
  readonly incomplete: readonly Entry[];
  readonly changeMapRegions: readonly number[];
  /** Set when the data volume is known to have failed. */
  readonly dataFailed: string | null;
}

export function freshRestoredState(incarnation = 1): RestoredState {
  return {
    intent: persisted({ role: 'none', epoch: EPOCH_NONE, modes: DEFAULT_MODES, primary: null, bunker: null, secondary: null }, null, null),
    incarnation,
    log: { firstSeq: 1 as Seq, lastSeq: SEQ_NONE },
    appliedSeq: SEQ_NONE,
    incomplete: [],
    changeMapRegions: [],
    dataFailed: null,
  };
}

export interface ReplicaStatus extends RoleStatus {
  readonly node: NodeName;
  readonly role: Role;
  readonly epoch: Epoch;
  readonly intent: PersistedIntent;
  readonly health: Health;
  /** Nothing in flight to the log or the data volume. */
  readonly quiescent: boolean;
}

export class Replica {
  private intentValue: PersistedIntent;
  private machine: RoleMachine;
  private readonly out = new ReadyBuilder();
  private outstanding: Ready | null = null;
  private readIds = 0;
  private healthValue: Health = { kind: 'ok' };
  private readonly ctx: RoleContext;
  private readonly incarnation: number;

  constructor(
    readonly config: ReplicaConfig,
    restored: RestoredState,
  ) {
    this.intentValue = restored.intent;
    this.incarnation = restored.incarnation;
    this.ctx = {
      config,
      out: this.out,
      nextReadId: () => (this.readIds += 1),
      intent: () => this.intentValue,
      persist: (intent) => {
        this.intentValue = intent;
        this.out.intent = intent;
      },
      health: (health) => this.reportHealth(health),
      logRoom: new LogRoom(config.limits.logBytesMax, restored.log.usedBytes ?? 0, restored.log.lastSeq),
    };
    this.machine = this.restoreMachine(restored);
  }

  private restoreMachine(restored: RestoredState): RoleMachine {
    const intent = restored.intent;
    const { firstSeq, lastSeq } = restored.log;
    assert(firstSeq <= lastSeq + 1, `log first ${firstSeq} after last ${lastSeq} + 1`);
    const keepsMap = intent.role === 'primary' && (intent.drain !== null || intent.divergenceSeq !== null);
    const limits = this.config.limits;
    const carried: Carried = {
      log: { firstSeq, lastSeq, durableSeq: lastSeq },
      appliedSeq: intent.role === 'bunker' ? lastSeq : restored.appliedSeq,
      applyRequestedSeq: intent.role === 'bunker' ? lastSeq : restored.appliedSeq,
      unapplied: intent.role === 'bunker' ? [] : restored.incomplete,
      changeMap: keepsMap ? new ChangeMap(limits.regionBytes, limits.volumeBytes, restored.changeMapRegions) : null,
      dataFailed: restored.dataFailed,
    };
    if (intent.role === 'primary' && intent.drain !== null) return new Secondary(this.ctx, carried);
    return this.machineFor(intent.role, carried);
  }

  private machineFor(role: Role, carried: Carried): RoleMachine {
    switch (role) {
      case 'none':
        return new Fenced(this.ctx, carried);
      case 'primary':
        return new Primary(this.ctx, { incarnation: this.incarnation, carried });
      case 'bunker':
        return new Bunker(this.ctx, carried);
      case 'secondary':
        return new Secondary(this.ctx, carried);
    }
  }

  // ---- the driver's interface ------------------------------------------------------------

  step(event: Event): void {
    switch (event.kind) {
      case 'consumer-request':
        this.onRequest(event.request);
        break;
      case 'local-append-durable':
        this.machine.onLocalDurable(event.throughSeq);
        break;
      case 'log-usage':
        this.ctx.logRoom.report(event.usedBytes, event.durableSeq);
        break;
      case 'data-applied':
        this.machine.onDataApplied(event.throughSeq);
        break;
      case 'message':
        this.onMessage(event.from, event.message);
        break;
      case 'log-read':
        this.machine.onLogRead(event.readId, event.entries);
        break;
      case 'link-down':
        this.machine.onLinkDown(event.peer);
        break;
      case 'configure':
        this.onConfigure(event);
        break;
      case 'data-volume-failed':
        this.machine.onDataFailed(event.detail);
        break;
      case 'tick':
        this.machine.onTick();
        break;
      default:
        unreachable(event, 'event');
    }
    this.handleSignals();
  }

  tick(): void {
    this.step({ kind: 'tick' });
  }

  hasReady(): boolean {
    this.flush();
    return !this.out.isEmpty();
  }

  ready(): Ready {
    assert(this.outstanding === null, 'ready() called again before advance()');
    this.flush();
    const ready = this.out.take();
    this.outstanding = ready;
    return ready;
  }

  advance(ready: Ready): void {
    assert(this.outstanding === ready, 'advance() with a Ready that was not the last one handed out');
    this.outstanding = null;
  }

  // ---- events the replica handles itself ------------------------------------------------

  private onRequest(request: ConsumerRequest): void {
    if (this.machine instanceof Primary) return this.machine.onRequest(request);
    const failure =
      this.machine instanceof Secondary && this.machine.isDraining()
        ? ({ kind: 'Recovering', reason: 'draining' } as const)
        : ({ kind: 'NotPrimary', role: this.intentValue.role } as const);
    this.out.answers.push({ kind: 'failed', id: request.id, failure });
  }

  private onMessage(from: NodeName, message: PeerMessage): void {
    if (isPeerRequest(message) && message.epoch < this.intentValue.epoch && !this.acceptsStale(message)) {
      const already = this.out.messages.some((m) => m.to === from && m.message.kind === 'stale-epoch');
      if (!already) this.out.messages.push({ to: from, message: { kind: 'stale-epoch', epoch: this.intentValue.epoch, refused: message.kind } });
      return;
    }
    this.machine.onMessage(from, message);
  }

  private acceptsStale(message: PeerMessage): boolean {
    return this.config.bugs.acceptStaleEpochAppend && this.machine instanceof Bunker && message.kind === 'append';
  }

  private onConfigure(event: ConfigureEvent): void {
    const status = this.machine.status();
    const result = planRoleChange(
      {
        role: this.intentValue.role,
        epoch: this.intentValue.epoch,
        draining: this.machine instanceof Secondary && this.machine.isDraining(),
        lastSeq: status.log.lastSeq,
        quiescent: this.isQuiescent(),
      },
      event,
    );
    if (result.kind === 'rejected') {
      this.out.configureAnswers.push({ kind: 'rejected', configureId: event.configureId, rejection: result.rejection });
      return;
    }
    this.applyRoleChange(event, result.change);
    this.out.configureAnswers.push({ kind: 'accepted', configureId: event.configureId, intent: this.intentValue });
  }

  private applyRoleChange(event: ConfigureEvent, change: RoleChange): void {
    const intent = event.intent;
    const machine = this.machine;
    const kept = this.intentValue;
    switch (change.kind) {
      case 'update':
        this.ctx.persist(persisted(intent, kept.drain, event.clearChangeMap ? null : kept.divergenceSeq));
        if (machine instanceof Primary) {
          machine.reconfigure(intent);
          if (event.clearChangeMap) machine.clearChangeMap();
        } else if (machine instanceof Bunker) machine.adoptEpoch(intent.epoch, intent.primary);
        else if (machine instanceof Secondary && kept.primary !== intent.primary) machine.followNewEpoch();
        return;
      case 'new-epoch':
        return this.enterNewEpoch(event);
      case 'takeover':
        assert(machine instanceof Secondary, 'takeover from a machine that is not a secondary');
        this.ctx.persist(persisted(intent, null, null));
        machine.startTakeover();
        return;
      case 'switch':
        return this.switchRole(event, change.resetLogToSeq);
    }
  }

  private enterNewEpoch(event: ConfigureEvent): void {
    const intent = event.intent;
    const machine = this.machine;
    const kept = this.intentValue;
    if (machine instanceof Primary) {
      machine.retire(intent.epoch);
      const carried = machine.carry();
      this.ctx.persist(persisted(intent, null, kept.divergenceSeq));
      this.machine = new Primary(this.ctx, { incarnation: this.incarnation, carried });
    } else if (machine instanceof Secondary) {
      this.ctx.persist(persisted(intent, kept.drain, null));
      if (machine.isDraining()) machine.resumeDrain();
      else machine.followNewEpoch();
    } else if (machine instanceof Bunker) {
      this.ctx.persist(persisted(intent, null, null));
      machine.adoptEpoch(intent.epoch, intent.primary);
    } else {
      this.ctx.persist(persisted(intent, null, null));
    }
  }

  private switchRole(event: ConfigureEvent, resetLogToSeq: Seq | null): void {
    if (this.machine instanceof Primary) this.machine.retire(event.intent.epoch);
    let carried = this.machine.carry();
    if (resetLogToSeq !== null) {
      this.out.cut({ kind: 'reset', baseSeq: resetLogToSeq });
      carried = {
        log: { firstSeq: (resetLogToSeq + 1) as Seq, lastSeq: resetLogToSeq, durableSeq: resetLogToSeq },
        appliedSeq: resetLogToSeq,
        applyRequestedSeq: resetLogToSeq,
        unapplied: [],
        changeMap: null,
        dataFailed: null,
      };
    }
    this.ctx.persist(persisted(event.intent, null, null));
    this.machine = this.machineFor(event.intent.role, carried);
  }

  // ---- signals from the role machines ----------------------------------------------------

  private flush(): void {
    // A signal swaps the machine, and the new one may have work at once (a hello, an apply).
    for (let round = 0; round < 4; round += 1) {
      this.machine.flush();
      if (!this.handleSignals()) return;
    }
    assert(false, 'role machines kept signalling');
  }

  private handleSignals(): boolean {
    const signal = this.machine.takeSignal();
    if (signal === null) return false;
    this.onSignal(signal);
    return true;
  }

  private onSignal(signal: RoleSignal): void {
    const carried = this.machine.carry();
    const intent = this.intentValue;
    switch (signal.kind) {
      case 'fenced':
        this.ctx.persist(persisted({ ...intent, role: 'none', epoch: signal.newerEpoch, primary: null, bunker: null, secondary: null }, null, null));
        this.machine = new Fenced(this.ctx, carried);
        this.reportHealth({ kind: 'fenced', newerEpoch: signal.newerEpoch });
        return;
      case 'promoted':
        this.ctx.persist(persisted(intent, null, signal.divergenceSeq));
        this.machine = new Primary(this.ctx, { incarnation: this.incarnation, carried });
        this.out.takeover = { ...signal, kind: 'promoted' };
        return;
    }
  }

  private reportHealth(health: Health): void {
    if (JSON.stringify(health) === JSON.stringify(this.healthValue)) return;
    this.healthValue = health;
    this.out.health = health;
  }

  // ---- queries ---------------------------------------------------------------------------

  private isQuiescent(): boolean {
    const machine = this.machine;
    if (machine instanceof Secondary || machine instanceof Fenced) return machine.quiescent();
    const status = machine.status();
    if (machine instanceof Bunker) return status.log.durableSeq === status.log.lastSeq;
    return status.log.durableSeq === status.log.lastSeq && status.appliedSeq === status.log.lastSeq && status.pendingRequests === 0;
  }

  /** The current role machine's state (primary: recovering | serving | stalled | data-failed | fenced), cheaply. */
  machineState(): string {
    return this.machine.stateName();
  }

  /** The change map of a primary promoted by takeover: what a failback must copy. */
  changeMapRegions(): number[] | null {
    return this.machine.changeMapRegions();
  }

  /** How much more the consumer may submit now (zero unless serving): pause reading NBD at zero. */
  writeCredit(): { readonly requests: number; readonly entries: number } {
    return this.machine instanceof Primary ? this.machine.writeCredit() : { requests: 0, entries: 0 };
  }

  status(): ReplicaStatus {
    return {
      ...this.machine.status(),
      node: this.config.node,
      role: this.intentValue.role,
      epoch: this.intentValue.epoch,
      intent: this.intentValue,
      health: this.healthValue,
      quiescent: this.isQuiescent(),
    };
  }
}
