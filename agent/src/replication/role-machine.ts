// The contract between the replica and the machine of its current role. Roles swap the
// machine the way raft swaps its step function; whatever outlives a role (log position,
// applied mark, entries not yet applied, change map) moves across in a Carried value.
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import type { ChangeMap } from './change-map.js';
import type { ReplicaConfig } from './config.js';
import type { PersistedIntent, Role } from './intent.js';
import type { LogRoom } from './log-room.js';
import type { PeerMessage } from './message.js';
import type { Health, ReadyBuilder, TakeoverCounters } from './ready.js';
import type { ConsumerRequest } from './request.js';

export interface LogPosition {
  /** Lowest sequence still in the log (lastSeq + 1 when empty). */
  readonly firstSeq: Seq;
  /** Highest sequence handed to the driver for appending. */
  readonly lastSeq: Seq;
  /** Highest sequence the driver reported durable. */
  readonly durableSeq: Seq;
}

export interface Carried {
  readonly log: LogPosition;
  readonly appliedSeq: Seq;
  /** Highest sequence handed out in Ready.apply (>= appliedSeq). */
  readonly applyRequestedSeq: Seq;
  /** Entries (appliedSeq, lastSeq] held in memory, in order (empty for a bunker). */
  readonly unapplied: readonly Entry[];
  readonly changeMap: ChangeMap | null;
  readonly dataFailed: string | null;
}

export interface RoleContext {
  readonly config: ReplicaConfig;
  readonly out: ReadyBuilder;
  nextReadId(): number;
  intent(): PersistedIntent;
  /** Records a new intent: persisted (Ready.intent) before anything else of that Ready. */
  persist(intent: PersistedIntent): void;
  /** Reports health when it changes. */
  health(health: Health): void;
  /** Room in this replica's change log (only a primary admits writes against it). */
  readonly logRoom: LogRoom;
}

export type RoleSignal =
  | { readonly kind: 'fenced'; readonly newerEpoch: Epoch }
  | ({ readonly kind: 'promoted'; readonly epoch: Epoch; readonly divergenceSeq: Seq; readonly tailSeq: Seq } & TakeoverCounters);

export interface RoleStatus {
  readonly machine: string;
  /** True only for a primary that accepts consumer writes right now. */
  readonly serving: boolean;
  readonly log: LogPosition;
  readonly appliedSeq: Seq;
  readonly commitSeq: Seq;
  readonly bunkerDurableSeq: Seq;
  readonly secondaryDurableSeq: Seq;
  readonly secondaryAppliedSeq: Seq;
  readonly pendingRequests: number;
  /** Dirty regions of the change map, or null when none is kept. */
  readonly changeMapRegions: readonly number[] | null;
}

export interface RoleMachine {
  readonly role: Role;
  onRequest(request: ConsumerRequest): void;
  onLocalDurable(throughSeq: Seq): void;
  onDataApplied(throughSeq: Seq): void;
  onMessage(from: NodeName, message: PeerMessage): void;
  onLogRead(readId: number, entries: readonly Entry[]): void;
  onLinkDown(peer: NodeName): void;
  onDataFailed(detail: string): void;
  onTick(): void;
  /** Computes this Ready's work: applies, answers, batches, trims. Idempotent between events. */
  flush(): void;
  carry(): Carried;
  status(): RoleStatus;
  /** The machine's state name (cheap; status() has it too). */
  stateName(): string;
  /** The change map's regions (failback), or null when none is kept. */
  changeMapRegions(): number[] | null;
  takeSignal(): RoleSignal | null;
}
