// What the operator tells a replica to be, and what the replica persists so that a restarted
// agent converges to its last role without being told again.
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';

export type Role = 'none' | 'primary' | 'bunker' | 'secondary';

export interface Modes {
  /** sync: a write is acknowledged only once the bunker holds it durably; none: no bunker wait. */
  readonly recovery: 'sync' | 'none';
  /** sync: the secondary must hold a write durably before it is acknowledged. */
  readonly secondary: 'async' | 'sync';
}

export const DEFAULT_MODES: Modes = { recovery: 'sync', secondary: 'async' };

export interface Intent {
  readonly role: Role;
  readonly epoch: Epoch;
  readonly modes: Modes;
  /** Bunker and secondary: the primary they follow. */
  readonly primary: NodeName | null;
  /** Primary: its bunker. A secondary being promoted drains from it. */
  readonly bunker: NodeName | null;
  /** Primary: its secondary, if any. */
  readonly secondary: NodeName | null;
}

/** A takeover that has fenced and is draining: enough to resume the drain after a restart. */
export interface DrainRecord {
  /** The promoted replica's log tail when the drain began: the divergence point for failback. */
  readonly startSeq: Seq;
}

/** The intent plus the role's durable progress markers; the driver persists it verbatim. */
export interface PersistedIntent extends Intent {
  /** Set while a secondary drains the bunker to become primary in `epoch`. */
  readonly drain: DrainRecord | null;
  /** Set on a primary promoted by takeover: entries above it may differ on the old primary. */
  readonly divergenceSeq: Seq | null;
}

export function persisted(intent: Intent, drain: DrainRecord | null, divergenceSeq: Seq | null): PersistedIntent {
  return { ...intent, drain, divergenceSeq };
}

/** Intents compare by what the operator controls; progress markers are the replica's own. */
export function sameIntent(a: Intent, b: Intent): boolean {
  return (
    a.role === b.role &&
    a.epoch === b.epoch &&
    a.modes.recovery === b.modes.recovery &&
    a.modes.secondary === b.modes.secondary &&
    a.primary === b.primary &&
    a.bunker === b.bunker &&
    a.secondary === b.secondary
  );
}
