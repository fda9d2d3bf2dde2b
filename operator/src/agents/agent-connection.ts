// The operator's view of one agent: promise-returning calls with deadlines over a cached gRPC
// channel, failures as RemoteErrors with stable codes. One connection per agent address.
import { credentials, Metadata, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import {
  AgentClient, fromGrpcError, TLS_CHANNEL_OPTIONS, tlsChannelCredentials, type TlsFiles,
  type ConfigureRequest, type ConfigureResponse, type DrainProgress, type DrainRequest,
  type StatusResponse, type ReleaseRequest, type ResyncRequest, type ResyncResponse,
} from '@bunker/proto';

export interface AgentCallOptions {
  readonly deadlineMs?: number;
}

const DEFAULT_DEADLINE_MS = 5_000;

function deadline(options: AgentCallOptions | undefined): Date {
  return new Date(Date.now() + (options?.deadlineMs ?? DEFAULT_DEADLINE_MS));
}

export class AgentConnection {
  private readonly client: AgentClient;

  constructor(readonly address: string, channelCredentials: ChannelCredentials = credentials.createInsecure(), options: ChannelOptions = {}) {
    this.client = new AgentClient(address, channelCredentials, {
      ...options,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2_000,
    });
  }

  configure(request: ConfigureRequest, options?: AgentCallOptions): Promise<ConfigureResponse> {
    return new Promise((resolve, reject) => {
      this.client.configure(request, new Metadata(), { deadline: deadline(options) }, (error, response) => {
        if (error !== null) reject(fromGrpcError(error, `configure ${request.volume} on ${this.address}`));
        else resolve(response);
      });
    });
  }

  status(volume: string, options?: AgentCallOptions): Promise<StatusResponse> {
    return new Promise((resolve, reject) => {
      this.client.status({ volume }, new Metadata(), { deadline: deadline(options) }, (error, response) => {
        if (error !== null) reject(fromGrpcError(error, `status of ${volume || 'all volumes'} on ${this.address}`));
        else resolve(response);
      });
    });
  }

  release(request: ReleaseRequest, options?: AgentCallOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.release(request, new Metadata(), { deadline: deadline(options) }, (error) => {
        if (error !== null) reject(fromGrpcError(error, `release ${request.volume} on ${this.address}`));
        else resolve();
      });
    });
  }

  resync(request: ResyncRequest, options?: AgentCallOptions): Promise<ResyncResponse> {
    return new Promise((resolve, reject) => {
      this.client.resync(request, new Metadata(), { deadline: deadline(options) }, (error, response) => {
        if (error !== null) reject(fromGrpcError(error, `resync ${request.volume} on ${this.address}`));
        else resolve(response);
      });
    });
  }

  /** Runs a takeover drain, reporting each progress message; resolves with the last one. */
  drain(request: DrainRequest, onProgress: (progress: DrainProgress) => void, options?: AgentCallOptions): Promise<DrainProgress> {
    return new Promise((resolve, reject) => {
      const call = this.client.drain(request, { deadline: deadline({ deadlineMs: options?.deadlineMs ?? 10 * 60_000 }) });
      let last: DrainProgress | undefined;
      call.on('data', (progress: DrainProgress) => {
        last = progress;
        onProgress(progress);
      });
      call.on('error', (error) => reject(fromGrpcError(error, `drain ${request.volume} on ${this.address}`)));
      call.on('end', () => {
        if (last?.done === true) resolve(last);
        else reject(fromGrpcError(new Error('drain stream ended before it was done'), `drain ${request.volume} on ${this.address}`));
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

/** Connections by address, so a reconcile does not open a channel per call. */
export class AgentConnections {
  private readonly byAddress = new Map<string, AgentConnection>();
  private readonly credentials: ChannelCredentials;
  private readonly options: ChannelOptions;

  /** `tls`: the operator's certificate, key and the installation's CA; null: plaintext. */
  constructor(tls: TlsFiles | null = null) {
    this.credentials = tls === null ? credentials.createInsecure() : tlsChannelCredentials(tls);
    this.options = tls === null ? {} : TLS_CHANNEL_OPTIONS;
  }

  get(address: string): AgentConnection {
    let connection = this.byAddress.get(address);
    if (connection === undefined) {
      connection = new AgentConnection(address, this.credentials, this.options);
      this.byAddress.set(address, connection);
    }
    return connection;
  }

  closeAll(): void {
    for (const connection of this.byAddress.values()) connection.close();
    this.byAddress.clear();
  }
}
