// The replication core: pure, synchronous, deterministic state machines (see replica.ts) and
// the failback computation. The agent's driver and test/sim run them.
export type { Event, ConfigureEvent, EventKind } from './event.js';
export type { Ready, LogCut, LogRead, Health, TakeoverReport, TakeoverCounters, ConfigureAnswer, ConfigureRejection } from './ready.js';
export type { PeerMessage, OutboundMessage, AppendMessage, AppendAckMessage, ShipMessage, ShipAckMessage, FetchRequestMessage, FetchBlockMessage, StaleEpochMessage } from './message.js';
export type { ConsumerRequest, ConsumerOp, RequestAnswer, RequestFailure, RequestId } from './request.js';
export type { Intent, PersistedIntent, Modes, Role, DrainRecord } from './intent.js';
export { DEFAULT_MODES, persisted, sameIntent } from './intent.js';
export type { ReplicaConfig, ReplicaLimits, TestOnlyBugs } from './config.js';
export { NO_BUGS, defaultLimits, ENTRY_HEADER_BYTES } from './config.js';
export { Replica, freshRestoredState, type RestoredState, type ReplicaStatus } from './replica.js';
export { ChangeMap, regionsOf } from './change-map.js';
export { divergentRegions, regionRanges, type DivergenceInput, type ByteRange } from './divergent-regions.js';
export { AssertionError } from './assert.js';
