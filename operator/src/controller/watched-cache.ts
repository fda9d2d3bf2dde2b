// An informer (list, then watch, into a cache) that keeps watching: client-node's ListWatch
// stops on a list or watch error and only reports it, so this restarts it after a delay.
// `whenSynced()` resolves once a list has succeeded; the controller waits for every cache to be
// synced before reconciling, so a Node that is merely not listed yet is never reported as
// missing (controller-runtime's WaitForCacheSync).
import { makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';

const RESTART_DELAY_MS = 2_000;

export interface WatchedCacheOptions<T extends KubernetesObject> {
  readonly name: string;
  readonly kubeConfig: KubeConfig;
  /** Watch path, e.g. /api/v1/nodes. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
  readonly logger: Logger;
  readonly onChange: (object: T, verb: 'add' | 'update' | 'delete') => void;
}

export class WatchedCache<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private syncedValue = false;
  private markSynced: () => void = () => undefined;
  private readonly synced = new Promise<void>((resolve) => {
    this.markSynced = resolve;
  });
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WatchedCacheOptions<T>) {
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await options.list();
      this.syncedValue = true;
      this.markSynced();
      return result;
    };
    this.informer = makeInformer(options.kubeConfig, options.path, list, options.labelSelector);
    this.informer.on('add', (object) => options.onChange(object, 'add'));
    this.informer.on('update', (object) => options.onChange(object, 'update'));
    this.informer.on('delete', (object) => options.onChange(object, 'delete'));
    this.informer.on('error', (error: unknown) => this.restartLater(error));
  }

  get isSynced(): boolean {
    return this.syncedValue;
  }

  /** Resolves once a list has succeeded (after restarts, if the first attempts failed), or on stop. */
  whenSynced(): Promise<void> {
    return this.synced;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  list(): readonly T[] {
    return this.informer.list();
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    // Wakes whoever waits for a sync that will not come now.
    this.markSynced();
    await this.informer.stop();
  }

  private restartLater(error: unknown): void {
    if (this.stopped) return;
    this.options.logger.warn({ err: error, cache: this.options.name }, 'watch failed; restarting it');
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.informer.start().catch((again: unknown) => this.restartLater(again));
    }, RESTART_DELAY_MS);
  }
}
