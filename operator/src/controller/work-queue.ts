// A de-duplicating work queue in the controller-runtime mould: a key is queued at most once,
// a key being processed is never processed concurrently, and a key added while it is being
// processed is processed again afterwards (the "dirty" set). Delayed adds implement
// RequeueAfter without polling. Bounded: adds past `keysMax` distinct keys are refused.
export interface WorkQueueOptions {
  readonly keysMax: number;
  readonly now?: () => number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;

  constructor(private readonly options: WorkQueueOptions) {}

  get depth(): number {
    return this.queue.length;
  }

  /** Queues a key now. Returns false when the queue is full (the caller logs and relies on resync). */
  add(key: string): boolean {
    if (this.shuttingDown) return false;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return true;
    }
    if (this.queued.has(key)) return true;
    if (this.queued.size + this.processing.size >= this.options.keysMax) return false;
    this.queued.add(key);
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
    return true;
  }

  /** Queues a key after a delay; a later, sooner request for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const existing = this.delayed.get(key);
    if (existing !== undefined) clearTimeout(existing);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.delayed.set(key, timer);
  }

  /** Waits for the next key; undefined once the queue is shut down. */
  next(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks a key's processing finished; re-queues it if it was added meanwhile. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const timer of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
