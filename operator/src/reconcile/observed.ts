// What one reconcile knows about one volume: a snapshot read whole every time (level-based),
// from the informer caches and the agents' Status calls, handed to plan() as a plain value.
// Nothing in here is a promise, a client or a clock: plan() gets the time as `nowMs`, so a
// table test can state any moment it likes.
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import type { ReplicaHealth, ReplicatedVolume } from '../api/index.js';

export type RoleName = 'primary' | 'bunker' | 'secondary';

/** The order agents are configured in for a new volume: the primary last, once it has peers to talk to. */
export const CONFIGURE_ORDER: readonly RoleName[] = ['bunker', 'secondary', 'primary'];
/** The order replicas are released in: the primary first, so it stops serving before its followers go. */
export const RELEASE_ORDER: readonly RoleName[] = ['primary', 'secondary', 'bunker'];

/** The Node object a role is placed on. */
export type NodeFacts =
  | { readonly kind: 'missing' }
  | { readonly kind: 'present'; readonly ready: boolean; readonly reason: string };

/** The agent's heartbeat Lease on that node (bunker-agent-<node>). */
export type AgentFacts =
  | { readonly kind: 'no-lease' }
  | {
    readonly kind: 'lease';
    /** host:port of the agent's gRPC server; empty until the agent annotated the Lease. */
    readonly grpcAddress: string;
    /** Host consumers use to reach the agent's NBD server. */
    readonly nbdHost: string;
    /** Last renewal; undefined if the Lease was never renewed. */
    readonly renewTimeMs: number | undefined;
    readonly leaseDurationSeconds: number;
  };

/** One replica as its agent reported it over gRPC. */
export interface ReplicaReport {
  /** 'none' once released, or before the agent was configured. */
  readonly role: RoleName | 'none';
  readonly epoch: Epoch;
  readonly durableSeq: Seq;
  readonly appliedSeq: Seq;
  readonly health: ReplicaHealth;
  readonly healthMessage: string;
  /** host:port where a serving primary takes NBD connections; empty otherwise. */
  readonly nbdAddress: string;
  /** Primary only: what its peers acknowledged, and how far the secondary lags. */
  readonly bunkerDurableSeq: Seq;
  readonly secondaryDurableSeq: Seq;
  readonly secondaryLagBytes: number;
  readonly secondaryLagSeconds: number;
  /** The primary's log filled and it records dirty regions instead (fill policy trackChanges). */
  readonly trackingChanges: boolean;
  /** Primary only: a write found no room in its change log in the last seconds (the secondary lags by the whole log). */
  readonly logFull?: boolean;
  /** Lowest sequence the replica's log still holds (the bunker's, for a takeover's gap check). */
  readonly firstSeq?: Seq;
  /** Primary only: the nodes it replicates to as it was last configured ('' for none). */
  readonly bunkerPeer?: string;
  readonly secondaryPeer?: string;
  /** A primary reopened after a restart that serves nothing until its role is confirmed. */
  readonly awaitingConfirmation?: boolean;
  /** This replica's resynchronization, running or last finished. */
  readonly resync?: ReplicaResync;
}

/** A replica's resynchronization as its agent reports it. */
export interface ReplicaResync {
  readonly state: 'running' | 'verifying' | 'finished' | 'failed';
  readonly full: boolean;
  readonly sourceNode: string;
  readonly epoch: Epoch;
  readonly regionsTotal: number;
  readonly regionsDone: number;
  readonly bytesTotal: number;
  readonly bytesDone: number;
  readonly bytesCopied: number;
  readonly bytesSkipped: number;
  readonly rateBytesPerSecond: number;
  readonly baseSeq: Seq;
  readonly message: string;
  readonly startedAtMs: number;
  readonly finishedAtMs: number;
}

export type ReplicaFacts =
  /** No live agent to ask (no Lease, an expired one, or one without an address). */
  | { readonly kind: 'not-asked' }
  /** The Status call failed; `code` is the RemoteError's stable code. */
  | { readonly kind: 'unreachable'; readonly code: string; readonly message: string }
  /** The agent answered and holds nothing for this volume. */
  | { readonly kind: 'absent' }
  | { readonly kind: 'reported'; readonly report: ReplicaReport };

export interface ObservedRole {
  readonly role: RoleName;
  /** Where the role is now: status.roles[role].node, or the spec's placement for a new volume. */
  readonly node: NodeName;
  readonly nodeFacts: NodeFacts;
  readonly agent: AgentFacts;
  readonly replica: ReplicaFacts;
}

export interface Observed {
  /** The reconcile's one reading of the clock: Lease expiry and condition times use it. */
  readonly nowMs: number;
  readonly volume: ReplicatedVolume;
  readonly roles: Readonly<Record<RoleName, ObservedRole>>;
  /** spec.placement.spares: their Nodes and agents (no replica is asked about). */
  readonly spares?: readonly ObservedSpare[];
}

export interface ObservedSpare {
  readonly node: NodeName;
  readonly nodeFacts: NodeFacts;
  readonly agent: AgentFacts;
}

/** A live agent: a Lease with an address, renewed within its duration as of `nowMs`. */
export function liveAgentAddress(agent: AgentFacts, nowMs: number): string | undefined {
  if (agent.kind !== 'lease' || agent.grpcAddress === '') return undefined;
  return leaseExpiresInMs(agent, nowMs) > 0 ? agent.grpcAddress : undefined;
}

/** Milliseconds until the Lease expires (0 or less: expired or never renewed). */
export function leaseExpiresInMs(agent: AgentFacts, nowMs: number): number {
  if (agent.kind !== 'lease' || agent.renewTimeMs === undefined) return 0;
  return agent.renewTimeMs + agent.leaseDurationSeconds * 1000 - nowMs;
}

/** The node a role lives on now: status first (a takeover moves roles), else the spec. */
export function roleNode(volume: ReplicatedVolume, role: RoleName): NodeName {
  return volume.status?.roles?.[role]?.node ?? volume.spec.placement[role].node;
}

/** namespace/name: the work-queue key and the volume's name on the agents. */
export function volumeKey(volume: ReplicatedVolume): string {
  return `${volume.metadata.namespace}/${volume.metadata.name}`;
}
