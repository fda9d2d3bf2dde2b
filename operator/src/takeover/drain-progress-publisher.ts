// Live progress of a takeover drain in status.takeover (entriesLeft, bytesLeft) while the
// Drain RPC streams it, so `kubectl get -o yaml` shows a long drain moving instead of a step
// frozen until it ends. Each write is a merge patch of status made conditional on the
// resourceVersion this reconcile holds, and hands back the new one, so the status written
// at the end of the reconcile still carries a resourceVersion the apiserver accepts. At most
// one patch is in flight and at most one per interval; a patch that fails (a conflict with
// someone else's write, an apiserver hiccup) stops the publishing for this drain and
// nothing else: progress is a convenience, the drain and its final figures are not at stake.
import type { DrainProgress } from '@bunker/proto';
import type { TakeoverProgress } from '../api/index.js';

/** Writes status.takeover with a merge patch; resolves with the new resourceVersion. */
export type TakeoverPatcher = (resourceVersion: string, takeover: TakeoverProgress) => Promise<string>;

export const DRAIN_PROGRESS_INTERVAL_MS = 500;

export class DrainProgressPublisher {
  private resourceVersion: string;
  private inFlight: Promise<void> | null = null;
  private lastPublishedAtMs = Number.NEGATIVE_INFINITY;
  private lastPublished: { entriesLeft: number; bytesLeft: number } | null = null;
  private stopped = false;
  private failure: unknown = null;

  constructor(
    resourceVersion: string,
    /** status.takeover as this reconcile plans it (step drain); progress fields are added. */
    private readonly takeover: TakeoverProgress,
    private readonly patch: TakeoverPatcher,
    private readonly now: () => number,
    private readonly intervalMs = DRAIN_PROGRESS_INTERVAL_MS,
  ) {
    this.resourceVersion = resourceVersion;
  }

  /** The agent's latest progress message; publishes it unless one is in flight or too recent. */
  offer(progress: DrainProgress): void {
    if (this.stopped || progress.done || this.inFlight !== null) return;
    const left = remaining(progress);
    if (left === null) return;
    if (this.lastPublished?.entriesLeft === left.entriesLeft) return;
    const nowMs = this.now();
    if (nowMs - this.lastPublishedAtMs < this.intervalMs) return;
    this.lastPublishedAtMs = nowMs;
    this.lastPublished = left;
    this.inFlight = this.patch(this.resourceVersion, { ...this.takeover, ...left }).then(
      (next) => { this.resourceVersion = next; },
      (error: unknown) => { this.stopped = true; this.failure = error; },
    ).finally(() => { this.inFlight = null; });
  }

  /** Waits for the patch in flight; resolves with the resourceVersion after every patch. */
  async settle(): Promise<{ readonly resourceVersion: string; readonly failure: unknown }> {
    this.stopped = true;
    await this.inFlight;
    return { resourceVersion: this.resourceVersion, failure: this.failure };
  }
}

/**
 * What the target still has to drain, or null before the first block told it how far the
 * bunker reaches (then every figure would be a guess). Bytes are estimated from the mean size
 * of the entries drained so far: the bunker reports sequences, not byte positions.
 */
export function remaining(progress: DrainProgress): { entriesLeft: number; bytesLeft: number } | null {
  if (progress.entriesReplayed === 0 || progress.targetSeq <= 0) return null;
  const entriesLeft = Math.max(0, progress.targetSeq - progress.appliedSeq);
  const meanEntryBytes = progress.bytesReplayed / progress.entriesReplayed;
  return { entriesLeft, bytesLeft: Math.round(entriesLeft * meanEntryBytes) };
}
