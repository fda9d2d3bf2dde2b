// Runs at most one Controller at a time, following leadership: a new one on every
// "started leading" (controllers are not restarted: their work queue shuts down for good),
// stopped on "stopped leading" before another may start, so two terms of the same process
// never reconcile side by side. A deposed leader's in-flight status write cannot clobber the
// new leader's: it carries the resourceVersion it read and fails with a conflict.
import type { Logger } from 'pino';
import type { OperatorMetrics } from '../observability/operator-metrics.js';
import type { Controller } from './controller.js';

export class ControllerRunner {
  private current: Controller | undefined;
  private stopping: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly makeController: () => Controller, private readonly metrics: OperatorMetrics, private readonly logger: Logger) {}

  get running(): boolean {
    return this.current !== undefined;
  }

  /** Starts a controller (after the previous one has stopped); resolves once it reconciles. */
  async lead(): Promise<void> {
    if (this.current !== undefined || this.closed) return;
    const controller = this.makeController();
    this.current = controller;
    this.metrics.leader.set(1);
    this.logger.info('leading: starting the controller');
    await this.stopping;
    await controller.start();
  }

  /** Stops the running controller, if any; resolves when its reconciles have finished. */
  async follow(): Promise<void> {
    const controller = this.current;
    if (controller === undefined) return;
    this.current = undefined;
    this.metrics.leader.set(0);
    this.logger.info('not leading: stopping the controller');
    this.stopping = controller.stop();
    await this.stopping;
  }

  /** For shutdown: stops the controller and refuses to start another, whatever the election says. */
  async close(): Promise<void> {
    this.closed = true;
    await this.follow();
  }
}
