// A first-in first-out queue with a fixed capacity (a ring), for the appends waiting for
// room in the log: every queue in the agent has a limit, and a full one says so.

export class BoundedQueue<T> {
  private readonly ring: (T | undefined)[];
  private first = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    this.ring = new Array<T | undefined>(capacity).fill(undefined);
  }

  get length(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count === this.capacity;
  }

  /** Adds at the back; false (and nothing added) when full. */
  push(value: T): boolean {
    if (this.full) return false;
    this.ring[(this.first + this.count) % this.capacity] = value;
    this.count += 1;
    return true;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.ring[this.first];
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const value = this.ring[this.first];
    this.ring[this.first] = undefined;
    this.first = (this.first + 1) % this.capacity;
    this.count -= 1;
    return value;
  }

  /** Removes and returns everything, oldest first. */
  drain(): T[] {
    const values: T[] = [];
    for (let value = this.shift(); value !== undefined; value = this.shift()) values.push(value);
    return values;
  }
}
