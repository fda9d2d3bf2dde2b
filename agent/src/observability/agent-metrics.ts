// Every figure an operator needs to trust a volume, exported with prom-client. Names follow
// Prometheus conventions (base units, _total for counters); every series carries `volume`.
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export class AgentMetrics {
  readonly registry = new Registry();

  readonly writeLatencySeconds = new Histogram({
    name: 'bunker_write_latency_seconds',
    help: 'Consumer write latency from request to acknowledgement (durable locally and at the bunker, applied).',
    labelNames: ['volume', 'kind'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  readonly bytesWritten = new Counter({ name: 'bunker_written_bytes_total', help: 'Bytes acknowledged to consumers.', labelNames: ['volume'] as const, registers: [this.registry] });
  readonly entriesWritten = new Counter({ name: 'bunker_log_entries_appended_total', help: 'Entries appended to this agent\'s change log or log copy.', labelNames: ['volume', 'role'] as const, registers: [this.registry] });
  readonly logBatches = new Counter({ name: 'bunker_log_batches_total', help: 'Group commits of the change log (one writev and one fdatasync each); entries_appended_total / batches_total is the mean batch size.', labelNames: ['volume', 'role'] as const, registers: [this.registry] });
  readonly lagEntries = new Gauge({ name: 'bunker_peer_lag_entries', help: 'Entries the peer has not made durable yet.', labelNames: ['volume', 'peer'] as const, registers: [this.registry] });
  readonly lagBytes = new Gauge({ name: 'bunker_peer_lag_bytes', help: 'Payload bytes the peer has not made durable yet.', labelNames: ['volume', 'peer'] as const, registers: [this.registry] });
  readonly lagSeconds = new Gauge({ name: 'bunker_peer_lag_seconds', help: 'Age of the oldest entry the peer has not made durable.', labelNames: ['volume', 'peer'] as const, registers: [this.registry] });
  readonly logUsedBytes = new Gauge({ name: 'bunker_log_used_bytes', help: 'Bytes of the change log holding entries not yet trimmed.', labelNames: ['volume', 'role'] as const, registers: [this.registry] });
  readonly logSizeBytes = new Gauge({ name: 'bunker_log_size_bytes', help: 'Size of the change log.', labelNames: ['volume', 'role'] as const, registers: [this.registry] });
  readonly nbdConnections = new Gauge({ name: 'bunker_nbd_connections', help: 'Open NBD connections.', labelNames: ['volume'] as const, registers: [this.registry] });
  readonly errors = new Counter({ name: 'bunker_errors_total', help: 'Errors by stable code.', labelNames: ['volume', 'code'] as const, registers: [this.registry] });
  readonly bunkerReachable = new Gauge({ name: 'bunker_bunker_reachable', help: '1 when the primary\'s bunker link is up; 0 means writes wait (recovery: sync).', labelNames: ['volume'] as const, registers: [this.registry] });
  readonly role = new Gauge({ name: 'bunker_volume_role', help: 'Role of this agent for the volume (1 for the current role).', labelNames: ['volume', 'role'] as const, registers: [this.registry] });
  readonly epoch = new Gauge({ name: 'bunker_volume_epoch', help: 'Epoch this agent holds for the volume.', labelNames: ['volume'] as const, registers: [this.registry] });
  readonly durableSeq = new Gauge({ name: 'bunker_log_durable_sequence', help: 'Highest sequence durable in this agent\'s log.', labelNames: ['volume', 'role'] as const, registers: [this.registry] });
  readonly appliedSeq = new Gauge({ name: 'bunker_data_applied_sequence', help: 'Highest sequence applied to the data volume.', labelNames: ['volume', 'role'] as const, registers: [this.registry] });
  readonly dataVolumeFailed = new Gauge({ name: 'bunker_data_volume_failed', help: '1 when the data volume returned I/O errors (the operator takes over from a failed primary).', labelNames: ['volume'] as const, registers: [this.registry] });
  readonly pushback = new Counter({ name: 'bunker_limit_pushback_total', help: 'Requests or connections a limit refused or delayed, by limit: replica-window (writes in flight), event-queue, nbd-connections, fetch-pending, log-full (no room in the change log).', labelNames: ['volume', 'limit'] as const, registers: [this.registry] });
  readonly syncIoFallbacks = new Counter({ name: 'bunker_sync_io_fallbacks_total', help: 'Times small file I/O of a kind (data-read, data-write, log-write) found the device slow and went to the thread pool for a second instead of running on the event loop (docs/agent.md).', labelNames: ['io'] as const, registers: [this.registry] });
  readonly resyncRunning = new Gauge({ name: 'bunker_resync_running', help: '1 while this replica is being resynchronized from the primary (failback or full copy).', labelNames: ['volume'] as const, registers: [this.registry] });
  readonly resyncBytesLeft = new Gauge({ name: 'bunker_resync_bytes_left', help: 'Bytes of candidate regions the running resync has not compared or copied yet.', labelNames: ['volume'] as const, registers: [this.registry] });
  readonly resyncBytesCopied = new Counter({ name: 'bunker_resync_copied_bytes_total', help: 'Bytes copied from the primary by resynchronization (regions whose checksums differed).', labelNames: ['volume'] as const, registers: [this.registry] });
  readonly resyncBytesCompared = new Counter({ name: 'bunker_resync_compared_bytes_total', help: 'Bytes compared by checksum during resynchronization (copied or skipped as identical).', labelNames: ['volume'] as const, registers: [this.registry] });

  constructor(node: string) {
    this.registry.setDefaultLabels({ node });
    collectDefaultMetrics({ register: this.registry });
  }
}
