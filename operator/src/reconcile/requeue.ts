// RequeueAfter intervals: how soon a volume is looked at again when no watch event comes.
// Watches bring every change of the RV, its Nodes and its agents' addresses; these cover
// what no event announces (an agent's progress, lag, a Lease that silently expires).

/** Something was just done whose effect shows within a second (an agent configured, an epoch recorded). */
export const REQUEUE_PROGRESS_MS = 1_000;
/** Not Ready: look again soon. */
export const REQUEUE_NOT_READY_MS = 2_000;
/** Ready: refresh lag and health. */
export const REQUEUE_READY_MS = 10_000;
