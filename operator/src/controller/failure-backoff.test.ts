// Method: failures in, delays out; no timers involved.
import { FailureBackoff } from './failure-backoff.js';

describe('FailureBackoff', () => {
  it('doubles per consecutive failure, up to the maximum, and forgets on success', () => {
    const backoff = new FailureBackoff({ baseMs: 100, maxMs: 1_000 });
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.failed('a/v', false))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(backoff.failed('b/v', false)).toBe(100);
    backoff.succeeded('a/v');
    expect(backoff.failed('a/v', false)).toBe(100);
  });

  it('retries a conflict at once, without growing the delay', () => {
    const backoff = new FailureBackoff({ baseMs: 100, maxMs: 1_000 });
    expect([backoff.failed('a/v', true), backoff.failed('a/v', true)]).toEqual([100, 100]);
    expect(backoff.failed('a/v', false)).toBe(100);
  });
});
