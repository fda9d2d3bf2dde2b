// A promise with its resolve and reject in hand, for the group commit: an append's promise
// is settled by the commit loop when its batch's datasync returns.

export interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

// A class rather than placeholder closures: one is made per append, on the hot path, and
// the closures cost an allocation each (and a name definition each under tsx, which the
// benchmark runs on).
class Settleable<T> implements Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (error: unknown) => void;

  constructor() {
    // The executor runs synchronously: both are set before the constructor returns.
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

export function deferred<T>(): Deferred<T> {
  return new Settleable<T>();
}
