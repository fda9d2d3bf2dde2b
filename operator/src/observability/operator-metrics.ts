// The operator's figures, exported with prom-client: how often it reconciles and how that
// ends, why reconciles fail (by stable code), how deep its work queue is, how many volumes
// sit in each phase, and whether this replica leads. Gauges that describe a cache are
// computed at scrape time from callbacks, so they cannot drift from what they describe.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { phaseValues, type Phase } from '../api/index.js';

export type ReconcileResultLabel = 'ready' | 'progressing' | 'action-failed' | 'error' | 'gone' | 'invalid';

export class OperatorMetrics {
  readonly registry = new Registry();
  private queueDepthOf: () => number = () => 0;
  private phasesOf: () => ReadonlyMap<Phase, number> = () => new Map();

  readonly reconciles = new Counter({
    name: 'bunker_operator_reconciles_total',
    help: 'Reconciles of a ReplicatedVolume, by how they ended.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'bunker_operator_reconcile_errors_total',
    help: 'Reconciles that failed or stopped at a failed action, by stable reason (Conflict, ApiUnavailable, AgentUnreachable, ConfigureRefused...).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly reconcileSeconds = new Histogram({
    name: 'bunker_operator_reconcile_duration_seconds',
    help: 'Time of one reconcile, agent calls included.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers: [this.registry],
  });
  readonly leader = new Gauge({ name: 'bunker_operator_leader', help: '1 while this replica holds the leader Lease and runs the controller.', registers: [this.registry] });

  constructor(identity: string) {
    this.registry.setDefaultLabels({ instance_identity: identity });
    collectDefaultMetrics({ register: this.registry });
    const queueDepth: Gauge = new Gauge({
      name: 'bunker_operator_queue_depth',
      help: 'Volume keys waiting in the work queue.',
      registers: [this.registry],
      collect: () => queueDepth.set(this.queueDepthOf()),
    });
    const volumes: Gauge<'phase'> = new Gauge({
      name: 'bunker_operator_volumes',
      help: 'ReplicatedVolumes watched, by status.phase (volumes without a phase yet are not counted).',
      labelNames: ['phase'] as const,
      registers: [this.registry],
      collect: () => {
        const counts = this.phasesOf();
        for (const phase of phaseValues) volumes.set({ phase }, counts.get(phase) ?? 0);
      },
    });
  }

  /** The running controller's queue and caches; reset to nothing when it stops. */
  source(queueDepth: () => number, phases: () => ReadonlyMap<Phase, number>): void {
    this.queueDepthOf = queueDepth;
    this.phasesOf = phases;
  }
}
