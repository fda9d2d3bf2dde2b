// The agent process's core: the volumes it holds, the gRPC services it offers the operator
// (Agent) and its peers (Replication), and the NBD server through which a primary serves its
// volumes. At start it reopens every volume it holds and converges to the role it last
// persisted; the operator need not resend anything.
import { Server, ServerCredentials, status, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData, type ServerWritableStream } from '@grpc/grpc-js';
import {
  AgentService, ReplicationService, Health as WireHealth, toGrpcError,
  type AgentServer, type ReplicationServer, type ConfigureRequest, type ConfigureResponse, type DrainRequest, type DrainProgress,
  type StatusRequest, type StatusResponse, type ReleaseRequest, type ReleaseResponse, type FetchRequest, type FetchBlock,
  type LogBatch, type LogAck, type VolumeStatus, type ResyncRequest, type ResyncResponse, type ResyncStatus,
  type RegionChecksumsRequest, type RegionChecksumsResponse, type ReadRegionRequest, type ReadRegionResponse,
  type DivergenceInfoRequest, type DivergenceInfoResponse, ResyncState, peerAuthenticated, tlsServerCredentials, type TlsFiles,
} from '@bunker/proto';
import { BunkerError } from '@bunker/proto/bunker-error';
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import type { AgentConfig } from './config/agent-config.js';
import type { Logger } from './observability/logger.js';
import { NbdServer } from './nbd/nbd-server.js';
import { PeerLinks } from './links/peer-links.js';
import { ReplicationClients } from './links/replication-clients.js';
import { appendFromWire, fetchRequestFromWire, shipFromWire, type EntryLimits } from './links/wire-codec.js';
import { IntentStore, type VolumeRecord } from './volume/intent-store.js';
import { VolumeReplica } from './volume/volume-replica.js';
import { ReplicatedBlockDevice } from './volume/replicated-block-device.js';
import { recordFromRequest, roleToWire, InvalidRequestError } from './server/intent-from-request.js';
import { removeVolumeFiles } from './volume/volume-storage.js';
import { persisted } from './replication/index.js';
import type { AgentMetrics } from './observability/agent-metrics.js';
import { ResyncRunner, type ResyncStatusView, type ResyncTarget } from './resync/resync-runner.js';
import { ResyncRecordStore } from './resync/resync-record.js';
import { GrpcResyncSource } from './resync/grpc-resync-source.js';
import { systemClock } from './resync/rate-limiter.js';
import { blockChecksums } from './resync/block-checksums.js';
import { syncIoGateClosings } from './io/sync-io-gate.js';

const DRAIN_PROGRESS_MS = 100;
/** VolumeStatus.log_full stays set this long after a write last found the change log full. */
const LOG_FULL_REPORT_MS = 5_000;
/** One RegionChecksums call reads at most this much; one ReadRegion returns at most this much. */
const CHECKSUM_BYTES_MAX = 16 * 1024 * 1024;
const READ_REGION_BYTES_MAX = 4 * 1024 * 1024;
const RESYNC_RATE_MIN = 1024 * 1024;

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

export class Agent {
  private readonly volumes = new Map<string, VolumeReplica>();
  private readonly opening = new Map<string, Promise<VolumeReplica>>();
  private readonly store: IntentStore;
  private readonly tls: TlsFiles | null;
  private readonly clients: ReplicationClients;
  private readonly logCountsSeen = new Map<string, { entries: number; batches: number }>();
  /** Gate closings already counted into bunker_sync_io_fallbacks_total. */
  private syncIoClosingsSeen = syncIoGateClosings();
  private readonly resyncs = new Map<string, ResyncRunner>();
  private readonly resyncSeen = new Map<string, { compared: number; copied: number }>();
  /** Primaries reopened at start: they serve nothing until the operator confirms the role. */
  private readonly awaitingConfirmation = new Set<string>();
  /** When a write last found no room in a volume's change log (VolumeStatus.log_full). */
  private readonly logFullAt = new Map<string, number>();
  private readonly grpc = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  readonly nbd: NbdServer;
  grpcPort = 0;
  nbdPort = 0;

  constructor(private readonly config: AgentConfig, private readonly logger: Logger, private readonly metrics: AgentMetrics) {
    this.tls = config.tlsCert === '' ? null : { certFile: config.tlsCert, keyFile: config.tlsKey, caFile: config.tlsCa };
    this.clients = new ReplicationClients(this.tls, config.tlsRefreshSeconds * 1000);
    this.store = new IntentStore(config.dataDir);
    this.nbd = new NbdServer({
      observer: {
        onRequest: (kind, bytes, latencyNs, errno, exportName) => {
          if (kind === 'write' || kind === 'write-zeroes' || kind === 'trim' || kind === 'flush') {
            metrics.writeLatencySeconds.observe({ volume: exportName, kind }, latencyNs / 1e9);
            if (errno === 0 && kind === 'write') metrics.bytesWritten.inc({ volume: exportName }, bytes);
          }
          if (errno !== 0) metrics.errors.inc({ volume: exportName, code: `nbd-errno-${errno}` });
        },
        onConnection: (event) => metrics.nbdConnections.inc({ volume: '' }, event === 'open' ? 1 : -1),
        onConnectionRefused: () => metrics.pushback.inc({ volume: '', limit: 'nbd-connections' }),
      },
    });
  }

  async start(): Promise<void> {
    for (const record of await this.store.loadAll()) {
      if (record.intent.role === 'primary') this.awaitingConfirmation.add(record.shape.volume);
      await this.openVolume(record);
    }
    this.grpc.addService(AgentService, this.authenticated(this.agentServer()));
    this.grpc.addService(ReplicationService, this.authenticated(this.replicationServer()));
    if (this.tls === null) this.logger.warn({}, 'gRPC without TLS: any client that reaches the port is served (give --tls-cert, --tls-key and --tls-ca)');
    const serverCredentials = this.tls === null ? ServerCredentials.createInsecure() : tlsServerCredentials(this.tls, this.config.tlsRefreshSeconds * 1000);
    this.grpcPort = await new Promise<number>((resolve, reject) => {
      this.grpc.bindAsync(this.config.grpcListen, serverCredentials, (error, port) => (error === null ? resolve(port) : reject(error)));
    });
    const nbd = splitAddress(this.config.nbdListen);
    this.nbdPort = (await this.nbd.listen(nbd.port, nbd.host)).port;
    this.logger.info({ grpcPort: this.grpcPort, nbdPort: this.nbdPort, volumes: this.volumes.size }, 'agent serving');
  }

  private async openVolume(record: VolumeRecord): Promise<VolumeReplica> {
    const name = record.shape.volume;
    const existing = this.volumes.get(name) ?? (await this.opening.get(name));
    if (existing !== undefined) return existing;
    const opening = VolumeReplica.open({
      node: this.config.node as NodeName,
      store: this.store,
      record,
      logger: this.logger.child({ volume: name }),
      links: (deliver) => new PeerLinks({
        volume: name, node: this.config.node, clients: this.clients, deliver,
        addressOf: (peer) => this.volumes.get(name)?.addressOf(peer),
        entryLimits: () => this.entryLimits(name),
        onError: (error, what) => this.logger.debug({ err: error, ...this.logFields(name), what }, 'replication link error'),
      }),
      onServingChanged: (serving) => void this.syncExport(name, serving),
      onHealth: (health) => this.logger.info({ ...this.logFields(name), health }, 'volume health'),
      onTakeover: (report) => this.logger.info({ ...this.logFields(name), report }, 'takeover progress'),
    });
    this.opening.set(name, opening);
    try {
      const volume = await opening;
      this.volumes.set(name, volume);
      return volume;
    } finally {
      this.opening.delete(name);
    }
  }

  /** What every log line about a volume carries: volume, role and epoch (node is on every line). */
  private logFields(name: string): { volume: string; role: string; epoch: number } {
    const intent = this.volumes.get(name)?.record.intent;
    return { volume: name, role: intent?.role ?? 'none', epoch: intent?.epoch ?? 0 };
  }

  private entryLimits(name: string): EntryLimits {
    const volume = this.volumes.get(name);
    return { volumeBytes: volume?.record.shape.sizeBytes ?? 0, entryBytesMax: 4 * 1024 * 1024 };
  }

  private async syncExport(name: string, serving: boolean): Promise<void> {
    const volume = this.volumes.get(name);
    try {
      if (serving && volume !== undefined && this.awaitingConfirmation.has(name)) {
        this.logger.info(this.logFields(name), 'reopened as primary: not serving until the operator confirms the role');
      } else if (serving && volume !== undefined) {
        this.nbd.addExport(name, new ReplicatedBlockDevice(volume, (limit) => this.onPushback(name, limit)), { description: `Bunker volume ${name} (primary)` });
        this.logger.info(this.logFields(name), 'serving the volume over NBD');
      } else {
        await this.nbd.removeExport(name);
        this.logger.info(this.logFields(name), 'stopped serving the volume over NBD');
      }
    } catch (error) {
      if (!(BunkerError.is(error) && (error.code === 'nbd-export-exists' || error.code === 'nbd-export-invalid'))) {
        this.logger.warn({ err: error, volume: name }, 'export change failed');
      }
    }
  }

  private volumeStatus(volume: VolumeReplica): VolumeStatus {
    const s = volume.status();
    const health = volume.lastHealth;
    return {
      volume: volume.name,
      role: roleToWire(s.role),
      epoch: s.epoch,
      durableSeq: s.log.durableSeq,
      appliedSeq: s.appliedSeq,
      bunkerDurableSeq: s.bunkerDurableSeq,
      secondaryDurableSeq: s.secondaryDurableSeq,
      secondaryAppliedSeq: s.secondaryAppliedSeq,
      secondaryLagBytes: s.role === 'primary' ? volume.lagOf(s.secondaryDurableSeq).bytes : 0,
      secondaryLagSeconds: s.role === 'primary' ? volume.lagOf(s.secondaryDurableSeq).seconds : 0,
      logUsedBytes: volume.logUsage().usedBytes,
      logSizeBytes: volume.logUsage().sizeBytes,
      health: health.kind === 'data-failed' ? WireHealth.HEALTH_DATA_FAILED
        : health.kind === 'peer-unreachable' && health.link === 'bunker' ? WireHealth.HEALTH_BUNKER_UNREACHABLE : WireHealth.HEALTH_OK,
      healthMessage: health.kind === 'ok' ? '' : JSON.stringify(health),
      nbdAddress: s.serving ? `${splitAddress(this.config.nbdListen).host}:${this.nbdPort}` : '',
      // The log filled (fill policy trackChanges); not the change map a promoted primary keeps
      // for failback, which every primary after a takeover has.
      trackingChanges: volume.logTracking(),
      firstSeq: s.log.firstSeq,
      resync: this.resyncStatus(volume.name),
      awaitingConfirmation: this.awaitingConfirmation.has(volume.name),
      bunkerPeer: s.role === 'primary' ? (volume.record.intent.bunker ?? '') : '',
      secondaryPeer: s.role === 'primary' ? (volume.record.intent.secondary ?? '') : '',
      logFull: this.logFullRecently(volume.name),
    };
  }

  private resyncStatus(name: string): ResyncStatus | undefined {
    const runner = this.resyncs.get(name);
    return runner === undefined ? undefined : resyncToWire(runner.status());
  }

  private async configure(request: ConfigureRequest): Promise<ConfigureResponse> {
    const { record, intent } = recordFromRequest(request);
    let volume = this.volumes.get(record.shape.volume);
    if (volume === undefined) {
      const fresh: VolumeRecord = {
        ...record,
        intent: persisted({ role: 'none', epoch: 0 as Epoch, modes: intent.modes, primary: null, bunker: null, secondary: null }, null, null),
      };
      await this.store.save(fresh);
      volume = await this.openVolume(fresh);
    }
    if (request.clearChangeMap && intent.role !== 'primary') throw new InvalidRequestError('clearChangeMap applies to a primary only');
    const reset = request.resetLogToSeq;
    if (reset !== undefined && (!Number.isSafeInteger(reset) || reset < 0)) throw new InvalidRequestError(`resetLogToSeq must be a whole sequence, got ${reset}`);
    const answer = await volume.configure(record, intent, { clearChangeMap: request.clearChangeMap, ...(reset === undefined ? {} : { resetLogToSeq: reset as Seq }) });
    if (answer.kind === 'rejected') {
      const rejection = answer.rejection;
      const code = rejection.kind === 'StaleEpoch' ? 'StaleEpoch' : rejection.kind === 'Busy' ? 'Busy' : 'WrongRole';
      throw new BunkerError(code, `configure ${record.shape.volume} refused: ${JSON.stringify(rejection)}`, {
        hint: rejection.kind === 'StaleEpoch' ? 'the operator must use the newest epoch from the volume status' : '',
      });
    }
    if (this.awaitingConfirmation.delete(record.shape.volume) && volume.status().serving) await this.syncExport(record.shape.volume, true);
    return { status: this.volumeStatus(volume) };
  }

  /**
   * Failback: start or resume resynchronizing this replica from the primary. The replica must
   * hold role none in the primary's epoch (fenced, serving nothing), or be the secondary a
   * recorded resync made it (resumed verification). Answers at once; Status reports progress.
   */
  private async resync(request: ResyncRequest): Promise<ResyncResponse> {
    const name = request.volume;
    const volume = this.volumes.get(name);
    if (volume === undefined) {
      throw new BunkerError('UnknownVolume', `no volume ${name} on ${this.config.node}`, { hint: 'configure the volume on this agent (role none, in the primary\'s epoch) first' });
    }
    const source = request.source;
    if (source === undefined || source.node === '' || !/^[^\s:]+:\d{1,5}$/.test(source.address)) {
      throw new InvalidRequestError(`resync of ${name}: source must name the primary's node and host:port`);
    }
    if (!Number.isSafeInteger(request.bytesPerSecondMax) || request.bytesPerSecondMax < RESYNC_RATE_MIN) {
      throw new InvalidRequestError(`resync of ${name}: bytesPerSecondMax must be at least ${RESYNC_RATE_MIN}, got ${request.bytesPerSecondMax}`);
    }
    const existing = this.resyncs.get(name);
    // A failed resync is started again (it resumes a failed copy from its persisted progress).
    if (existing !== undefined && existing.epoch === request.epoch && (existing.active || existing.status().state !== 'failed')) {
      existing.setRate(request.bytesPerSecondMax);
      const state = existing.status().state;
      if (!existing.active && (state === 'running' || state === 'verifying')) this.startResync(name, existing);
      return { resync: resyncToWire(existing.status()) };
    }
    const s = volume.status();
    if (s.epoch !== request.epoch) {
      throw new BunkerError('StaleEpoch', `resync of ${name}: this replica holds epoch ${s.epoch}, the request names ${request.epoch}`, { hint: 'configure the replica as none in the primary\'s epoch first' });
    }
    const records = new ResyncRecordStore(this.store.volumeDir(name));
    if (s.role === 'secondary') {
      const saved = await records.load();
      if (saved === null || saved.plan.epoch !== request.epoch || saved.progress.state === 'running') {
        throw new BunkerError('WrongRole', `resync of ${name}: this replica already follows the primary as secondary`, { hint: 'a secondary is resynchronized only after it is fenced to role none' });
      }
    } else if (s.role !== 'none') {
      throw new BunkerError('WrongRole', `resync of ${name}: this replica is ${s.role}; only a fenced replica (role none) is resynchronized`, { hint: 'configure it as none in the primary\'s epoch first' });
    }
    const data = volume.data;
    if (data === null) throw new BunkerError('WrongRole', `resync of ${name}: this replica keeps no data volume`);
    const epoch = request.epoch as Epoch;
    const target: ResyncTarget = {
      sizeBytes: volume.record.shape.sizeBytes,
      read: (offset, length) => data.read(offset, length),
      write: (offset, bytes) => data.write(offset, bytes),
      flush: () => data.flush(),
      seal: () => volume.sealHistory(),
      history: () => volume.history(),
      entriesAfter: (seq) => volume.logEntriesAfter(seq),
      appliedSeq: () => volume.status().appliedSeq,
      logFirstSeq: () => volume.logFirstSeq(),
      follow: async (baseSeq: Seq) => {
        const now = volume.status();
        if (now.role === 'secondary' && now.epoch === epoch) return;
        const answer = await volume.configure(
          { shape: volume.record.shape, addresses: { ...volume.record.addresses, [source.node]: source.address } },
          { role: 'secondary', epoch, modes: volume.record.intent.modes, primary: source.node as NodeName, bunker: null, secondary: null },
          { resetLogToSeq: baseSeq },
        );
        if (answer.kind === 'rejected') throw new BunkerError('WrongRole', `following ${source.node} after the copy was refused: ${JSON.stringify(answer.rejection)}`);
        volume.markDataResynchronized();
      },
    };
    const runner = new ResyncRunner(
      { epoch: request.epoch, bytesPerSecondMax: request.bytesPerSecondMax, full: request.full },
      new GrpcResyncSource(source.node, this.clients.get(source.address), name, request.epoch),
      target, records, systemClock,
    );
    this.resyncs.set(name, runner);
    this.startResync(name, runner);
    return { resync: resyncToWire(runner.status()) };
  }

  private startResync(name: string, runner: ResyncRunner): void {
    this.logger.info(this.logFields(name), 'resynchronization started');
    void runner.start().then(() => {
      const status = runner.status();
      const level = status.state === 'failed' ? 'warn' : 'info';
      this.logger[level]({ ...this.logFields(name), resync: status }, `resynchronization ${status.state}`);
    });
  }

  /** The primary of `epoch` for a resync source call, with its data volume. */
  private resyncSource(name: string, epoch: number): VolumeReplica & { data: NonNullable<VolumeReplica['data']> } {
    const volume = this.volumes.get(name);
    if (volume === undefined) throw new BunkerError('UnknownVolume', `no volume ${name} on ${this.config.node}`);
    const s = volume.status();
    if (s.role !== 'primary' || s.epoch !== epoch) {
      throw new BunkerError(s.epoch > epoch ? 'StaleEpoch' : 'NotPrimary', `${this.config.node} holds ${name} as ${s.role} in epoch ${s.epoch}, not primary in epoch ${epoch}`, {
        hint: 'the operator restarts the resync from the current primary',
      });
    }
    if (volume.data === null) throw new BunkerError('WrongRole', `${name} has no data volume on ${this.config.node}`);
    return volume as VolumeReplica & { data: NonNullable<VolumeReplica['data']> };
  }

  private checkRange(name: string, sizeBytes: number, offset: number, length: number, max: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0 || length > max || offset + length > sizeBytes) {
      throw new InvalidRequestError(`${name}: region ${offset}+${length} is outside the volume (${sizeBytes} bytes) or larger than ${max} bytes`);
    }
  }

  private async regionChecksums(request: RegionChecksumsRequest): Promise<RegionChecksumsResponse> {
    const volume = this.resyncSource(request.volume, request.epoch);
    const block = request.blockBytes;
    if (!Number.isSafeInteger(block) || block < 512 || block > 1024 * 1024 || (block & (block - 1)) !== 0) {
      throw new InvalidRequestError(`blockBytes must be a power of two from 512 to 1 MiB, got ${block}`);
    }
    const total = request.regions.reduce((sum, region) => sum + region.length, 0);
    if (total > CHECKSUM_BYTES_MAX) throw new InvalidRequestError(`checksums of ${total} bytes asked; at most ${CHECKSUM_BYTES_MAX} per call`);
    // Read the applied mark first: the data read afterwards holds at least that much.
    const appliedSeq = volume.status().appliedSeq;
    const checksums: Buffer[] = [];
    for (const region of request.regions) {
      this.checkRange(request.volume, volume.record.shape.sizeBytes, region.offset, region.length, CHECKSUM_BYTES_MAX);
      checksums.push(...blockChecksums(await volume.data.read(region.offset, region.length), block));
    }
    return { checksums, appliedSeq };
  }

  private async readRegion(request: ReadRegionRequest): Promise<ReadRegionResponse> {
    const volume = this.resyncSource(request.volume, request.epoch);
    const region = request.region;
    if (region === undefined) throw new InvalidRequestError('region is required');
    this.checkRange(request.volume, volume.record.shape.sizeBytes, region.offset, region.length, READ_REGION_BYTES_MAX);
    const appliedSeq = volume.status().appliedSeq;
    return { data: await volume.data.read(region.offset, region.length), appliedSeq };
  }

  private divergenceInfo(request: DivergenceInfoRequest): DivergenceInfoResponse {
    const volume = this.resyncSource(request.volume, request.epoch);
    const divergenceSeq = volume.record.intent.divergenceSeq;
    return {
      divergenceSeq: divergenceSeq ?? 0,
      hasDivergence: divergenceSeq !== null,
      changedRegions: volume.changeMapRegions() ?? [],
      regionBytes: volume.record.shape.regionBytes,
      appliedSeq: volume.status().appliedSeq,
      sizeBytes: volume.record.shape.sizeBytes,
    };
  }

  /**
   * With mutual TLS, every handler first checks that the caller presented a certificate the
   * installation's CA signed (the operator or a peer agent); anyone else gets UNAUTHENTICATED
   * and nothing else happens.
   */
  private authenticated<T extends object>(service: T): T {
    if (this.tls === null) return service;
    const guarded: Record<string, unknown> = {};
    for (const [method, handler] of Object.entries(service)) {
      const serve = handler as (call: unknown, callback?: unknown) => void;
      guarded[method] = (call: { getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: unknown } | null; getPeer(): string; emit(event: 'error', error: unknown): boolean }, callback?: unknown): void => {
        if (peerAuthenticated(call)) return serve(call, callback);
        this.metrics.errors.inc({ volume: '', code: 'Unauthenticated' });
        this.logger.warn({ peer: call.getPeer(), method }, 'refused a gRPC call without a valid client certificate');
        const error = { code: status.UNAUTHENTICATED, details: `${method} refused: present a client certificate signed by this installation's CA` };
        if (typeof callback === 'function') (callback as (e: unknown, v: null) => void)(error, null);
        else call.emit('error', error);
      };
    }
    return guarded as T;
  }

  private agentServer(): AgentServer {
    return {
      configure: (call: ServerUnaryCall<ConfigureRequest, ConfigureResponse>, callback: sendUnaryData<ConfigureResponse>) => {
        this.configure(call.request).then((response) => callback(null, response), (error: unknown) => callback(toGrpcError(error), null));
      },
      status: (call: ServerUnaryCall<StatusRequest, StatusResponse>, callback: sendUnaryData<StatusResponse>) => {
        const wanted = call.request.volume;
        const volumes = [...this.volumes.values()].filter((v) => wanted === '' || v.name === wanted).map((v) => this.volumeStatus(v));
        callback(null, { node: this.config.node, volumes });
      },
      drain: (call: ServerWritableStream<DrainRequest, DrainProgress>) => void this.drain(call),
      resync: (call: ServerUnaryCall<ResyncRequest, ResyncResponse>, callback: sendUnaryData<ResyncResponse>) => {
        this.resync(call.request).then((response) => callback(null, response), (error: unknown) => callback(toGrpcError(error), null));
      },
      release: (call: ServerUnaryCall<ReleaseRequest, ReleaseResponse>, callback: sendUnaryData<ReleaseResponse>) => {
        this.release(call.request).then(() => callback(null, {}), (error: unknown) => callback(toGrpcError(error), null));
      },
    };
  }

  /** A limit pushed a request back; a full change log is also reported in status and logged once per episode. */
  private onPushback(volume: string, limit: string): void {
    this.metrics.pushback.inc({ volume, limit });
    if (limit !== 'log-full') return;
    if (!this.logFullRecently(volume)) {
      this.logger.warn({ ...this.logFields(volume) }, 'change log full: the secondary lags by the whole log; writes wait for room or fail with ENOSPC per spec.log.fillPolicy');
    }
    this.logFullAt.set(volume, Date.now());
  }

  private logFullRecently(volume: string): boolean {
    return Date.now() - (this.logFullAt.get(volume) ?? Number.NEGATIVE_INFINITY) < LOG_FULL_REPORT_MS;
  }

  /** Takeover on this (secondary) replica: become primary in the new epoch, draining the bunker first. */
  private async drain(call: ServerWritableStream<DrainRequest, DrainProgress>): Promise<void> {
    const volume = this.volumes.get(call.request.volume);
    if (volume === undefined) {
      call.emit('error', toGrpcError(new BunkerError('UnknownVolume', `no volume ${call.request.volume} on ${this.config.node}`)));
      return;
    }
    const bunker = call.request.bunker;
    const addresses = { ...volume.record.addresses, ...(bunker === undefined || bunker.node === '' ? {} : { [bunker.node]: bunker.address }) };
    const intent = volume.record.intent;
    const answer = await volume.configure({ shape: volume.record.shape, addresses }, {
      role: 'primary', epoch: call.request.epoch as Epoch, modes: intent.modes, primary: null,
      bunker: bunker === undefined || bunker.node === '' ? intent.bunker : (bunker.node as NodeName), secondary: null,
    });
    if (answer.kind === 'rejected') {
      call.emit('error', toGrpcError(new BunkerError(answer.rejection.kind === 'StaleEpoch' ? 'StaleEpoch' : 'WrongRole', `drain refused: ${JSON.stringify(answer.rejection)}`)));
      return;
    }
    for (;;) {
      const report = volume.lastTakeover;
      const done = report?.kind === 'promoted' && report.epoch === call.request.epoch;
      call.write({
        appliedSeq: volume.status().appliedSeq,
        targetSeq: report?.kind === 'drain-progress' ? report.bunkerDurableSeq : volume.status().appliedSeq,
        entriesReplayed: report?.entriesReplayed ?? 0,
        bytesReplayed: report?.bytesReplayed ?? 0,
        incompleteWritesApplied: report?.incompleteWritesApplied ?? 0,
        done,
      });
      if (done || call.cancelled) break;
      await new Promise((r) => setTimeout(r, DRAIN_PROGRESS_MS));
    }
    call.end();
  }

  private async release(request: ReleaseRequest): Promise<void> {
    const volume = this.volumes.get(request.volume);
    if (volume === undefined) return;
    await this.nbd.removeExport(request.volume).catch(() => undefined);
    this.volumes.delete(request.volume);
    await volume.close();
    if (request.deleteData) await removeVolumeFiles(this.store.volumeDir(request.volume));
    else await this.store.retire(request.volume);
  }

  private replicationServer(): ReplicationServer {
    const stream = (kind: 'append' | 'ship') => (call: ServerDuplexStream<LogBatch, LogAck>): void => {
      let attached = false;
      call.on('data', (batch: LogBatch) => {
        const volume = this.volumes.get(batch.volume);
        if (volume === undefined) {
          call.emit('error', toGrpcError(new BunkerError('UnknownVolume', `no volume ${batch.volume} on ${this.config.node}`)));
          return;
        }
        const from = batch.fromNode as NodeName;
        if (!attached) {
          volume.attachInbound(from, kind, call);
          attached = true;
        }
        try {
          const limits = this.entryLimits(batch.volume);
          const message = kind === 'append' ? appendFromWire(batch, limits) : shipFromWire(batch, limits);
          volume.deliver({ kind: 'message', from, message });
        } catch (error) {
          this.logger.warn({ err: error, volume: batch.volume, from }, `refused a ${kind} batch`);
          call.emit('error', toGrpcError(error instanceof InvalidRequestError ? error : BunkerError.is(error) ? error : new InvalidRequestError(String(error))));
        }
      });
      call.on('end', () => call.end());
    };
    return {
      append: stream('append'),
      ship: stream('ship'),
      fetch: (call: ServerUnaryCall<FetchRequest, FetchBlock>, callback: sendUnaryData<FetchBlock>) => {
        const volume = this.volumes.get(call.request.volume);
        if (volume === undefined) {
          callback({ code: status.NOT_FOUND, details: `no volume ${call.request.volume}` }, null);
          return;
        }
        try {
          const message = fetchRequestFromWire(call.request);
          const from = call.request.fromNode as NodeName;
          if (!volume.parkFetch(from, callback)) {
            this.metrics.pushback.inc({ volume: call.request.volume, limit: 'fetch-pending' });
            callback({ code: status.RESOURCE_EXHAUSTED, details: 'too many fetches pending' }, null);
            return;
          }
          volume.deliver({ kind: 'message', from, message });
        } catch (error) {
          callback(toGrpcError(error), null);
        }
      },
      regionChecksums: (call, callback) => {
        this.regionChecksums(call.request).then((response) => callback(null, response), (error: unknown) => callback(toGrpcError(error), null));
      },
      readRegion: (call, callback) => {
        this.readRegion(call.request).then((response) => callback(null, response), (error: unknown) => callback(toGrpcError(error), null));
      },
      divergenceInfo: (call, callback) => {
        try {
          callback(null, this.divergenceInfo(call.request));
        } catch (error) {
          callback(toGrpcError(error), null);
        }
      },
    };
  }

  /** Samples every volume's figures into the metrics (called by the metrics scrape). */
  refreshMetrics(): void {
    const closings = syncIoGateClosings();
    for (const io of ['data-read', 'data-write', 'log-write'] as const) {
      this.metrics.syncIoFallbacks.inc({ io }, closings[io] - this.syncIoClosingsSeen[io]);
    }
    this.syncIoClosingsSeen = closings;
    for (const volume of this.volumes.values()) {
      const s = volume.status();
      const labels = { volume: volume.name, role: s.role };
      for (const role of ['primary', 'bunker', 'secondary', 'none'] as const) this.metrics.role.set({ volume: volume.name, role }, role === s.role ? 1 : 0);
      this.metrics.epoch.set({ volume: volume.name }, s.epoch);
      this.metrics.durableSeq.set(labels, s.log.durableSeq);
      this.metrics.appliedSeq.set(labels, s.appliedSeq);
      const usage = volume.logUsage();
      const seen = this.logCountsSeen.get(volume.name) ?? { entries: 0, batches: 0 };
      // The log's counters restart with the process and the file; count only what is new.
      this.metrics.entriesWritten.inc(labels, Math.max(0, usage.entries - seen.entries));
      this.metrics.logBatches.inc(labels, Math.max(0, usage.batches - seen.batches));
      this.logCountsSeen.set(volume.name, { entries: usage.entries, batches: usage.batches });
      this.metrics.logUsedBytes.set(labels, usage.usedBytes);
      this.metrics.logSizeBytes.set(labels, usage.sizeBytes);
      // Sticky until the agent restarts: the data file returned an I/O error (whatever role the replica holds now).
      this.metrics.dataVolumeFailed.set({ volume: volume.name }, volume.lastHealth.kind === 'data-failed' || volume.data?.failed !== undefined ? 1 : 0);
      this.refreshResyncMetrics(volume.name);
      if (s.role !== 'primary') continue;
      for (const [peer, durable] of [['bunker', s.bunkerDurableSeq], ['secondary', s.secondaryDurableSeq]] as const) {
        const lag = volume.lagOf(durable);
        this.metrics.lagEntries.set({ volume: volume.name, peer }, lag.entries);
        this.metrics.lagBytes.set({ volume: volume.name, peer }, lag.bytes);
        this.metrics.lagSeconds.set({ volume: volume.name, peer }, lag.seconds);
      }
      const health = volume.lastHealth;
      this.metrics.bunkerReachable.set({ volume: volume.name }, health.kind === 'peer-unreachable' && health.link === 'bunker' ? 0 : 1);
    }
  }

  private refreshResyncMetrics(name: string): void {
    const runner = this.resyncs.get(name);
    if (runner === undefined) return;
    const r = runner.status();
    this.metrics.resyncRunning.set({ volume: name }, runner.active ? 1 : 0);
    this.metrics.resyncBytesLeft.set({ volume: name }, Math.max(0, r.bytesTotal - r.bytesDone));
    const seen = this.resyncSeen.get(name) ?? { compared: 0, copied: 0 };
    this.metrics.resyncBytesCompared.inc({ volume: name }, Math.max(0, r.bytesDone - seen.compared));
    this.metrics.resyncBytesCopied.inc({ volume: name }, Math.max(0, r.bytesCopied - seen.copied));
    this.resyncSeen.set(name, { compared: r.bytesDone, copied: r.bytesCopied });
  }

  /** Graceful stop: refuse new work, finish in-flight writes, persist, close. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.grpc.tryShutdown(() => resolve()));
    await this.nbd.close();
    for (const volume of this.volumes.values()) await volume.close();
    this.clients.closeAll();
  }
}

function resyncToWire(view: ResyncStatusView): ResyncStatus {
  const state = { running: ResyncState.RESYNC_STATE_RUNNING, verifying: ResyncState.RESYNC_STATE_VERIFYING, finished: ResyncState.RESYNC_STATE_FINISHED, failed: ResyncState.RESYNC_STATE_FAILED }[view.state];
  return {
    state,
    full: view.full,
    sourceNode: view.sourceNode,
    epoch: view.epoch,
    regionsTotal: view.regionsTotal,
    regionsDone: view.regionsDone,
    bytesTotal: view.bytesTotal,
    bytesDone: view.bytesDone,
    bytesCopied: view.bytesCopied,
    bytesSkipped: view.bytesSkipped,
    rateBytesPerSecond: view.rateBytesPerSecond,
    baseSeq: view.baseSeq,
    message: view.message,
    startedAtMs: view.startedAtMs,
    finishedAtMs: view.finishedAtMs,
  };
}
