// How long to wait before retrying a volume whose reconcile failed: doubling per consecutive
// failure from `baseMs` up to `maxMs` (controller-runtime's per-item exponential limiter),
// forgotten on the first success. A status conflict is retried at the base delay: the
// object moved on, and the next attempt reads the new one.
export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

export class FailureBackoff {
  private readonly failures = new Map<string, number>();

  constructor(private readonly options: BackoffOptions = { baseMs: 200, maxMs: 30_000 }) {}

  /** Records a failure of `key`; returns the delay before its retry. */
  failed(key: string, conflict: boolean): number {
    if (conflict) return this.options.baseMs;
    const count = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, count);
    return Math.min(this.options.maxMs, this.options.baseMs * 2 ** Math.min(count - 1, 20));
  }

  succeeded(key: string): void {
    this.failures.delete(key);
  }
}
