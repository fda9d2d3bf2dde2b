// Method: the simulation plays the operator, level-based like the real one: each reconcile
// observes every reachable agent, asks decideTakeover whether to fail over, drives a takeover
// step by step through a status record (fence with epoch + 1, let the target drain and
// promote, then record it), performs the failback of a returning old primary, and pushes to
// every reachable node the intent its status implies. Its own state is the status (the
// source of truth): it never crashes in the model, but it only ever acts on what it observes.
//
// The failback copy (read regions on the new primary, write them on the old one) is done in
// one atomic step here; the real resynchronization streams the regions, which needs a
// 'resyncing' secondary that is not promoted until the copy is verified (decideTakeover's
// secondary-resyncing rule).
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import { epoch as toEpoch } from '@bunker/proto/ids';
import { decideTakeover, type TakeoverDecision } from '../../operator/src/failover/decide-takeover.js';
import type { ObservedVolume, PrimaryHealth } from '../../operator/src/failover/observed-volume.js';
import { divergentRegions, regionRanges, sameIntent, type Intent, type Modes } from '../../agent/src/replication/index.js';
import type { SimNode } from './sim-node.js';

export interface OperatorStatus {
  epoch: Epoch;
  primary: NodeName;
  readonly bunker: NodeName;
  secondary: NodeName | null;
  takeover: { readonly target: NodeName; readonly from: NodeName } | null;
  /** From the last promotion: where the returning old primary's history may diverge. */
  divergenceSeq: Seq | null;
  manualRequest: { readonly requestId: string } | null;
  unhealthySince: number | null;
  lastRule: string;
  takeovers: number;
  failbacks: number;
}

export interface OperatorWorld {
  readonly nodes: ReadonlyMap<NodeName, SimNode>;
  reachable(node: NodeName): boolean;
  trace(line: string): void;
  readonly regionBytes: number;
  readonly volumeBytes: number;
}

export interface OperatorOptions {
  readonly mode: 'automatic' | 'manual';
  readonly gracePeriodTicks: number;
  readonly tickMs: number;
  readonly modes: Modes;
}

export class SimOperator {
  readonly status: OperatorStatus;
  private configureIds = 0;

  constructor(
    private readonly world: OperatorWorld,
    private readonly options: OperatorOptions,
    roles: { readonly primary: NodeName; readonly bunker: NodeName; readonly secondary: NodeName },
  ) {
    this.status = {
      epoch: toEpoch(1),
      primary: roles.primary,
      bunker: roles.bunker,
      secondary: roles.secondary,
      takeover: null,
      divergenceSeq: null,
      manualRequest: null,
      unhealthySince: null,
      lastRule: '',
      takeovers: 0,
      failbacks: 0,
    };
  }

  requestTakeover(requestId: string): void {
    this.status.manualRequest = { requestId };
  }

  reconcile(now: number): void {
    const status = this.status;
    if (status.takeover !== null) this.finishTakeoverIfPromoted();
    if (status.takeover === null) {
      const decision = decideTakeover(this.observe(now));
      if (decision.rule !== status.lastRule) this.world.trace(`operator: ${decision.decision} [${decision.rule}] ${decision.reason}`);
      status.lastRule = decision.rule;
      if (decision.decision === 'promote') this.startTakeover(decision);
      else if (status.manualRequest !== null && decision.decision === 'refuse') status.manualRequest = null;
    }
    if (status.takeover === null && status.secondary === null) this.tryFailback();
    this.pushIntents();
  }

  /** The intent each node should hold, from status alone. */
  desiredIntent(node: NodeName): Intent {
    const status = this.status;
    const modes = this.options.modes;
    const none: Intent = { role: 'none', epoch: status.epoch, modes, primary: null, bunker: null, secondary: null };
    const primary = status.takeover?.target ?? status.primary;
    if (node === status.bunker) return { ...none, role: 'bunker', primary };
    if (status.takeover !== null) {
      if (node === status.takeover.target) return { ...none, role: 'primary', bunker: status.bunker };
      return none;
    }
    if (node === status.primary) return { ...none, role: 'primary', bunker: status.bunker, secondary: status.secondary };
    if (node === status.secondary) return { ...none, role: 'secondary', primary: status.primary };
    return none;
  }

  private pushIntents(): void {
    // Fence first: the bunker, then everyone else, the new primary last.
    const order = [...this.world.nodes.keys()].sort((a, b) => this.pushRank(a) - this.pushRank(b));
    for (const name of order) {
      const node = this.world.nodes.get(name);
      if (node?.replica === null || node === undefined || !this.world.reachable(name)) continue;
      const desired = this.desiredIntent(name);
      if (sameIntent(node.disk.intent, desired)) continue;
      this.configure(node, desired, null, false);
    }
  }

  private pushRank(node: NodeName): number {
    if (node === this.status.bunker) return 0;
    return node === (this.status.takeover?.target ?? this.status.primary) ? 2 : 1;
  }

  private configure(node: SimNode, intent: Intent, resetLogToSeq: Seq | null, clearChangeMap: boolean): void {
    this.configureIds += 1;
    this.world.trace(`operator: configure ${node.name} ${intent.role}@${intent.epoch}${resetLogToSeq === null ? '' : ` reset ${resetLogToSeq}`}`);
    node.step({ kind: 'configure', configureId: this.configureIds, intent, resetLogToSeq, clearChangeMap });
  }

  private observe(now: number): ObservedVolume {
    const status = this.status;
    const health = this.primaryHealth();
    if (health === 'ok') status.unhealthySince = null;
    else status.unhealthySince ??= now;
    const bunker = this.nodeStatus(status.bunker);
    const secondary = status.secondary === null ? null : this.nodeStatus(status.secondary);
    return {
      epoch: status.epoch,
      primary: { node: status.primary, health, unhealthyForMs: (now - (status.unhealthySince ?? now)) * this.options.tickMs },
      failover: { mode: this.options.mode, gracePeriodMs: this.options.gracePeriodTicks * this.options.tickMs },
      manualRequest: status.manualRequest === null ? null : { requestId: status.manualRequest.requestId, stale: false },
      recovery: this.options.modes.recovery,
      bunker: { node: status.bunker, reachable: bunker !== null, durableSeq: bunker?.log.durableSeq ?? (0 as Seq), firstSeq: bunker?.log.firstSeq ?? (0 as Seq) },
      secondary:
        status.secondary === null
          ? null
          : {
              node: status.secondary,
              reachable: secondary !== null,
              durableSeq: secondary?.log.durableSeq ?? (0 as Seq),
              resyncing: false,
              dataFailed: secondary?.health.kind === 'data-failed',
            },
      takeoverInProgress: status.takeover !== null,
      allowDataLoss: false,
    };
  }

  private primaryHealth(): PrimaryHealth {
    const node = this.world.nodes.get(this.status.primary);
    if (node?.replica == null) return 'node-not-ready';
    if (!this.world.reachable(node.name)) return 'lease-expired';
    return node.replica.status().health.kind === 'data-failed' || node.disk.dataFailed !== null ? 'data-failed' : 'ok';
  }

  private nodeStatus(name: NodeName): ReturnType<NonNullable<SimNode['replica']>['status']> | null {
    const replica = this.world.nodes.get(name)?.replica;
    return replica != null && this.world.reachable(name) ? replica.status() : null;
  }

  private startTakeover(decision: TakeoverDecision): void {
    const status = this.status;
    const target = status.secondary;
    if (target === null) return;
    status.epoch = toEpoch(status.epoch + 1);
    status.takeover = { target, from: status.primary };
    status.manualRequest = null;
    status.takeovers += 1;
    this.world.trace(`operator: takeover ${status.primary} -> ${target} in epoch ${status.epoch} (${decision.rule})`);
  }

  private finishTakeoverIfPromoted(): void {
    const status = this.status;
    const takeover = status.takeover;
    if (takeover === null) return;
    const replica = this.world.nodes.get(takeover.target)?.replica;
    if (replica == null || !this.world.reachable(takeover.target)) return;
    const target = replica.status();
    if (target.role !== 'primary' || target.epoch !== status.epoch || target.intent.drain !== null) return;
    status.primary = takeover.target;
    status.secondary = null;
    status.takeover = null;
    status.divergenceSeq = target.intent.divergenceSeq;
    status.unhealthySince = null;
    this.world.trace(`operator: ${takeover.target} promoted in epoch ${status.epoch}, divergence at ${status.divergenceSeq}`);
  }

  /** The old primary is back, fenced and settled: copy what differs, make it the secondary. */
  private tryFailback(): void {
    const status = this.status;
    const primary = this.world.nodes.get(status.primary);
    const returning = [...this.world.nodes.values()].find((n) => n.name !== status.primary && n.name !== status.bunker);
    if (primary?.replica == null || returning?.replica == null) return;
    if (!this.world.reachable(primary.name) || !this.world.reachable(returning.name)) return;
    const back = returning.replica.status();
    if (back.role !== 'none' || back.epoch !== status.epoch || !back.quiescent || returning.disk.dataFailed !== null) return;
    const now = primary.replica.status();
    if (!now.serving) return;
    const regions = returning.disk.volumeReplaced
      ? Array.from({ length: Math.ceil(this.world.volumeBytes / this.world.regionBytes) }, (_, i) => i)
      : divergentRegions({
          divergenceSeq: status.divergenceSeq ?? (0 as Seq),
          returningEntries: returning.disk.log,
          changeMapRegions: primary.replica.changeMapRegions() ?? [],
          regionBytes: this.world.regionBytes,
        });
    for (const range of regionRanges(regions, this.world.regionBytes, this.world.volumeBytes)) {
      returning.disk.copyRegion(range.offset, primary.disk.current.slice(range.offset, range.offset + range.length));
    }
    returning.disk.volumeReplaced = false;
    const base = primary.appliedThrough;
    this.world.trace(`operator: failback ${returning.name}: copied regions [${regions.join(',')}] at ${base}`);
    this.configure(returning, this.desiredAfterFailback(returning.name), base, false);
    if (returning.disk.intent.role !== 'secondary') return;
    status.secondary = returning.name;
    status.divergenceSeq = null;
    status.failbacks += 1;
    this.configure(primary, this.desiredIntent(primary.name), null, true);
  }

  private desiredAfterFailback(_node: NodeName): Intent {
    return { role: 'secondary', epoch: this.status.epoch, modes: this.options.modes, primary: this.status.primary, bunker: null, secondary: null };
  }
}
