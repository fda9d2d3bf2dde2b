// The pool handed to requests: one per PooledKubeConfig, replaced (and the old one closed)
// once it is POOL_MAX_AGE_MS old. No request is sent: applySecurityAuthentication only
// prepares a request's context. Connections against a real apiserver are counted in
// test/integration/kube-connection-pool.test.ts.
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { PooledKubeConfig, POOL_MAX_AGE_MS } from './pooled-kube-config.js';

function loaded(now: () => number): PooledKubeConfig {
  const config = new PooledKubeConfig(now);
  config.loadFromOptions({
    // A CA of its own, as every real kubeconfig has: only then does the library build a pool.
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: false, caData: Buffer.from('not a real CA').toString('base64') }],
    users: [{ name: 'u', token: 'secret' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return config;
}

/** undici's pools say whether they were closed; the Dispatcher type does not. */
function isClosed(dispatcher: unknown): boolean {
  return typeof dispatcher === 'object' && dispatcher !== null && 'closed' in dispatcher && dispatcher.closed === true;
}

async function prepared(config: PooledKubeConfig): Promise<RequestContext> {
  const context = new RequestContext('https://127.0.0.1:1/api/v1/namespaces/default', HttpMethod.GET);
  await config.applySecurityAuthentication(context);
  return context;
}

describe('PooledKubeConfig', () => {
  it('gives every request the same pool, and still sets each request\'s credentials', async () => {
    const config = loaded(() => 0);
    const first = await prepared(config);
    const second = await prepared(config);
    expect(first.getDispatcher()).toBeDefined();
    expect(second.getDispatcher()).toBe(first.getDispatcher());
    expect(second.getHeaders()['Authorization']).toBe('Bearer secret');
  });

  it('replaces a pool POOL_MAX_AGE_MS old and closes the old one', async () => {
    let now = 0;
    const config = loaded(() => now);
    const old = (await prepared(config)).getDispatcher();
    now += POOL_MAX_AGE_MS - 1;
    expect((await prepared(config)).getDispatcher()).toBe(old);
    now += 1;
    const replaced = (await prepared(config)).getDispatcher();
    expect(replaced).toBeDefined();
    expect(replaced).not.toBe(old);
    expect((await prepared(config)).getDispatcher()).toBe(replaced);
    await new Promise((resolve) => setImmediate(resolve));
    expect(isClosed(old)).toBe(true);
    expect(isClosed(replaced)).toBe(false);
  });

  it('is not shared between two configs', async () => {
    expect((await prepared(loaded(() => 0))).getDispatcher()).not.toBe((await prepared(loaded(() => 0))).getDispatcher());
  });
});
