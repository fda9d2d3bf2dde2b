// A KubeConfig whose API requests share one connection pool. @kubernetes/client-node 2.0.1
// builds a new undici Agent (a new pool) for every request in applySecurityAuthentication, so
// every request opened its own TCP and TLS connection to the apiserver and left it open until
// the abandoned pool was collected: during a soak the operator held between 3 and ~200
// connections to the apiserver, in a 90-second sawtooth. Here the first pool is kept and
// handed to every request; tokens still travel per request in headers (read afresh each time),
// and the pool is replaced every POOL_MAX_AGE_MS so rotated client certificates are picked up.
import { KubeConfig } from '@kubernetes/client-node';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];
type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/** How long one pool serves before the next request's fresh one replaces it. */
export const POOL_MAX_AGE_MS = 10 * 60 * 1000;

export class PooledKubeConfig extends KubeConfig {
  private pool: { readonly dispatcher: Dispatcher; readonly since: number } | undefined;

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (fresh === undefined) return;
    const current = this.pool;
    if (current === undefined || this.now() - current.since >= POOL_MAX_AGE_MS) {
      // The old pool finishes what it carries, then closes its connections.
      if (current !== undefined) void current.dispatcher.close().catch(() => undefined);
      this.pool = { dispatcher: fresh, since: this.now() };
      return;
    }
    // The fresh pool never connected: nothing to close.
    context.setDispatcher(current.dispatcher);
  }
}
