// A token bucket for resynchronization: bytes copied per second at most `bytesPerSecond`,
// with a burst of one second's worth, so a resync leaves the links to the live log. The
// clock and the sleep are injected so the limiter is tested without waiting.
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(private bytesPerSecond: number, private readonly clock: Clock) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive, got ${bytesPerSecond}`);
    this.tokens = bytesPerSecond;
    this.last = clock.now();
  }

  /**
   * A new rate from now on. The bucket is kept (clamped to the new burst), not refilled: the
   * operator repeats the Resync request at every reconcile, and a refill at each repeat would
   * let one more second's worth through every time (about twice the limit at one repeat a second).
   */
  setRate(bytesPerSecond: number): void {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive, got ${bytesPerSecond}`);
    this.refill();
    this.bytesPerSecond = bytesPerSecond;
    this.tokens = Math.min(this.tokens, bytesPerSecond);
  }

  /** Waits until `bytes` may be copied, then takes them (a request larger than the burst waits for its whole size). */
  async take(bytes: number): Promise<void> {
    this.refill();
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    await this.clock.sleep(Math.ceil((-this.tokens / this.bytesPerSecond) * 1000));
    this.refill();
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
  }
}
