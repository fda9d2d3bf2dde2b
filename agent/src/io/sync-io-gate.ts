// Whether small file I/O may run synchronously on the event loop. A positional read or write
// that hits the page cache costs about 5-7 µs on the caller's thread here, against 30-40 µs
// of CPU handed to libuv's thread pool and back; but one that waits on the device (a read
// miss, a write throttled by dirty-page writeback) would stop the whole event loop for that
// long. Node has no preadv2(RWF_NOWAIT) to ask the kernel first, so the gate asks the clock:
// each synchronous operation is timed, and when slow ones (over `slowMs`) come in a run the
// gate closes for `closedMs`, during which the caller uses the thread pool. A single slow one
// is usually the thread being preempted on a busy machine, not the device, so it takes
// SLOW_SCORE_MAX of them in quick succession (a decaying count) to close the gate. So the
// loop waits on the device for a few operations per `closedMs` at most, and a workload served
// from the page cache pays no thread hop.
/** Which I/O a gate decides for; the agent's metrics count closings by it. */
export type SyncIoKind = 'data-read' | 'data-write' | 'log-write';

const closingsByKind: Record<SyncIoKind, number> = { 'data-read': 0, 'data-write': 0, 'log-write': 0 };

/** Times gates of each kind closed in this process (bunker_sync_io_fallbacks_total). */
export function syncIoGateClosings(): Readonly<Record<SyncIoKind, number>> {
  return { ...closingsByKind };
}

export interface SyncIoGateOptions {
  readonly kind: SyncIoKind;
  /** A synchronous operation slower than this waited on the device. */
  readonly slowMs: number;
  /** How long the gate stays closed after a slow operation. */
  readonly closedMs: number;
  readonly now?: () => number;
}

/** The decaying count of slow operations at which the gate closes (three in a row do it). */
export const SLOW_SCORE_MAX = 2.5;
/** Each operation keeps this share of the count: isolated slow ones fade out. */
const SLOW_SCORE_DECAY = 31 / 32;

export class SyncIoGate {
  private closedUntil = Number.NEGATIVE_INFINITY;
  private slowCount = 0;
  private closedCount = 0;
  private slowScore = 0;
  private readonly now: () => number;

  constructor(private readonly options: SyncIoGateOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** Whether the next operation may run synchronously. */
  get open(): boolean {
    return this.now() >= this.closedUntil;
  }

  /** Synchronous operations found slow so far. */
  get slowOperations(): number {
    return this.slowCount;
  }

  /** Times the gate closed so far. */
  get closings(): number {
    return this.closedCount;
  }

  /** Runs `operation` synchronously and times it; a slow one closes the gate. */
  run<T>(operation: () => T): T {
    const started = this.now();
    try {
      return operation();
    } finally {
      const ended = this.now();
      this.slowScore *= SLOW_SCORE_DECAY;
      if (ended - started > this.options.slowMs) {
        this.slowCount += 1;
        this.slowScore += 1;
        if (this.slowScore >= SLOW_SCORE_MAX) {
          this.closedCount += 1;
          closingsByKind[this.options.kind] += 1;
          this.slowScore = 0;
          this.closedUntil = ended + this.options.closedMs;
        }
      }
    }
  }
}
