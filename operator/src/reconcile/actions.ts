// What plan() asks apply() to do, in order. Every action is idempotent, so a reconcile that
// stops halfway (a crash, a lost leadership, an agent refusing) is simply run again: the next
// plan sees what was done and asks only for the rest.
import type { Epoch, NodeName } from '@bunker/proto/ids';
import type { FillPolicy, RecoveryMode, ReplicatedVolumeStatus, SecondaryMode, TakeoverProgress } from '../api/index.js';
import type { RoleName } from './observed.js';

export const FINALIZER = 'replication.bunker.dev/release';

export interface PeerRef {
  readonly node: NodeName;
  /** host:port of the peer agent's gRPC server. */
  readonly address: string;
}

/** Everything an agent is told about its replica of a volume (ConfigureRequest, in our words). */
export interface AgentIntent {
  /** namespace/name. */
  readonly volume: string;
  readonly volumeUid: string;
  readonly epoch: Epoch;
  /** 'none': fenced, holding its data but serving and following nothing (a returning old primary). */
  readonly role: RoleName | 'none';
  readonly sizeBytes: number;
  readonly logBytes: number;
  readonly recovery: RecoveryMode;
  readonly secondaryMode: SecondaryMode;
  readonly fillPolicy: FillPolicy;
  readonly changeMapRegionBytes: number;
  /** The primary's peers for the primary; the primary for the bunker and the secondary. */
  readonly peers: { readonly primary?: PeerRef; readonly bunker?: PeerRef; readonly secondary?: PeerRef };
  /** Primary: the failback that needed its change map is verified; forget the map. */
  readonly clearChangeMap?: boolean;
  /** A new bunker holding nothing: its log copy starts after this sequence (where the secondary stands). */
  readonly resetLogToSeq?: number;
}

/** The primary's NBD endpoint, which the volume's Service and EndpointSlice publish. */
export interface NbdEndpoint {
  readonly node: NodeName;
  readonly host: string;
  readonly port: number;
}

export type Action =
  /** Before anything exists on an agent, so that deletion always passes through release. */
  | { readonly kind: 'add-finalizer' }
  | { readonly kind: 'configure'; readonly node: NodeName; readonly address: string; readonly intent: AgentIntent }
  /** Server-side apply of the Service and its EndpointSlice; `endpoint` null publishes no address. */
  | { readonly kind: 'publish-endpoint'; readonly endpoint: NbdEndpoint | null }
  | { readonly kind: 'release'; readonly role: RoleName; readonly node: NodeName; readonly address: string; readonly deleteData: boolean }
  /**
   * Takeover: the target drains the bunker's log copy and is promoted in `epoch` (the Drain
   * RPC, awaited with a deadline). Its figures are recorded in status.takeover when it ends.
   */
  | {
    readonly kind: 'drain'; readonly node: NodeName; readonly address: string; readonly volume: string; readonly epoch: Epoch; readonly bunker: PeerRef;
    /** status.takeover at step drain, which the drain's live progress is written into. */
    readonly takeover: TakeoverProgress;
  }
  /**
   * Failback: the fenced replica on `node` resynchronizes from the primary `source` (the
   * Resync RPC starts or resumes it and answers at once; progress comes back through Status).
   */
  | { readonly kind: 'resync'; readonly node: NodeName; readonly address: string; readonly volume: string; readonly epoch: Epoch; readonly source: PeerRef; readonly bytesPerSecondMax: number }
  /** Last: once removed, the apiserver deletes the object. */
  | { readonly kind: 'remove-finalizer' };

export interface EventSpec {
  readonly type: 'Normal' | 'Warning';
  /** CamelCase, the same vocabulary as condition reasons. */
  readonly reason: string;
  readonly message: string;
  /** 'applied': only if every action of the plan succeeded (it describes their effect). */
  readonly when: 'always' | 'applied';
}

export interface Plan {
  /** Run in order; apply stops at the first that fails. */
  readonly actions: readonly Action[];
  /** The status to write once, after the actions (report may amend it with an apply failure). */
  readonly status: ReplicatedVolumeStatus;
  readonly events: readonly EventSpec[];
  /** When to look again although nothing changed (RequeueAfter). */
  readonly requeueAfterMs: number;
}
