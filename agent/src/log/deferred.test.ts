// deferred(): a promise settled from outside.
import { deferred } from './deferred.js';

describe('deferred', () => {
  it('resolves and rejects from outside', async () => {
    const ok = deferred<number>();
    ok.resolve(3);
    await expect(ok.promise).resolves.toBe(3);
    const bad = deferred<number>();
    bad.reject(new Error('no'));
    await expect(bad.promise).rejects.toThrow('no');
  });
});
