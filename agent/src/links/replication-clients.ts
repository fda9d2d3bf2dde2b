// One gRPC channel per peer agent, shared by every volume that talks to it. Keepalives make a
// dead peer visible within seconds even when no batch is in flight.
import { credentials } from '@grpc/grpc-js';
import { ReplicationClient } from '@bunker/proto';

export class ReplicationClients {
  private readonly byAddress = new Map<string, ReplicationClient>();

  get(address: string): ReplicationClient {
    let client = this.byAddress.get(address);
    if (client === undefined) {
      client = new ReplicationClient(address, credentials.createInsecure(), {
        'grpc.keepalive_time_ms': 2_000,
        'grpc.keepalive_timeout_ms': 2_000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
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
