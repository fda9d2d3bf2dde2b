// One gRPC channel per peer agent, shared by every volume that talks to it. Keepalives make a
// dead peer visible within seconds even when no batch is in flight.
import { credentials, makeGenericClientConstructor, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { ReplicationService, TLS_CHANNEL_OPTIONS, tlsChannelCredentials, type ReplicationClient, type TlsFiles } from '@bunker/proto';
import { serializeLogBatch } from './log-batch-encoder.js';

/**
 * HTTP/2 receive window, per stream and per connection, of both ends of the replication
 * streams (the server end is widened in peer-links.ts). The default 64 KiB makes a 1 MiB
 * entry wait for about sixteen window updates.
 */
export const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * The generated client, except that Append and Ship batches are serialized by
 * log-batch-encoder.ts (the same bytes, each payload copied once instead of about five times).
 */
const FastReplicationClient = makeGenericClientConstructor({
  ...ReplicationService,
  append: { ...ReplicationService.append, requestSerialize: serializeLogBatch },
  ship: { ...ReplicationService.ship, requestSerialize: serializeLogBatch },
}, 'bunker.v1.Replication') as unknown as typeof ReplicationClient;

export class ReplicationClients {
  private readonly byAddress = new Map<string, ReplicationClient>();
  private readonly credentials: ChannelCredentials;
  private readonly tlsOptions: ChannelOptions;

  /** `tls`: this agent's certificate, key and CA for mutual TLS to its peers; null: plaintext. */
  constructor(tls: TlsFiles | null = null, refreshIntervalMs?: number) {
    this.credentials = tls === null ? credentials.createInsecure() : tlsChannelCredentials(tls, refreshIntervalMs);
    this.tlsOptions = tls === null ? {} : TLS_CHANNEL_OPTIONS;
  }

  get(address: string): ReplicationClient {
    let client = this.byAddress.get(address);
    if (client === undefined) {
      client = new FastReplicationClient(address, this.credentials, {
        ...this.tlsOptions,
        'grpc.keepalive_time_ms': 2_000,
        'grpc.keepalive_timeout_ms': 2_000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
      });
      this.byAddress.set(address, client);
    }
    return client;
  }

  closeAll(): void {
    for (const client of this.byAddress.values()) client.close();
    this.byAddress.clear();
  }
}
