// How far a peer is behind, in entries, bytes and seconds. The core counts in sequences; the
// driver samples (sequence, time, cumulative bytes) once per durable batch, so a peer's lag is
// read off the first sample above the sequence it holds durably: bytes and age at batch
// granularity. Bounded: the oldest samples are dropped first.
const SAMPLES_MAX = 8192;

interface Sample {
  readonly seq: number;
  readonly atMs: number;
  readonly bytes: number;
}

export interface Lag {
  readonly entries: number;
  readonly bytes: number;
  readonly seconds: number;
}

export class LagTracker {
  private readonly samples: Sample[] = [];
  private bytesTotal = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Entries through `seq`, `bytes` of payload in all, became durable locally now. */
  recordDurable(seq: number, bytes: number): void {
    this.bytesTotal += bytes;
    this.samples.push({ seq, atMs: this.now(), bytes: this.bytesTotal });
    // Drop the older half at once: amortized O(1) instead of a shift per batch.
    if (this.samples.length > SAMPLES_MAX) this.samples.splice(0, SAMPLES_MAX / 2);
  }

  lagOf(localDurableSeq: number, peerDurableSeq: number): Lag {
    const entries = Math.max(0, localDurableSeq - peerDurableSeq);
    if (entries === 0) return { entries: 0, bytes: 0, seconds: 0 };
    const index = this.firstAbove(peerDurableSeq);
    const first = this.samples[index];
    const before = index > 0 ? this.samples[index - 1] : undefined;
    if (first === undefined) return { entries, bytes: 0, seconds: 0 };
    return {
      entries,
      bytes: this.bytesTotal - (before?.bytes ?? 0),
      seconds: Math.max(0, (this.now() - first.atMs) / 1000),
    };
  }

  private firstAbove(seq: number): number {
    let low = 0;
    let high = this.samples.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.samples[mid]?.seq ?? Infinity) > seq) high = mid;
      else low = mid + 1;
    }
    return low;
  }
}
