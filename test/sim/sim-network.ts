// Fault model of the network between replicas:
//  - each stream (append+acks, ship+acks, fetch calls, stale-epoch answers) between two
//    nodes is a FIFO queue per direction: delivered in order or not at all, like a gRPC stream;
//    different streams interleave arbitrarily (the scheduler picks which head to deliver);
//  - delay is the scheduler choosing other work first;
//  - a partition of a link drops everything queued both ways and every later send until it
//    heals, and both ends see link-down (the stream broke);
//  - a crashed node's queues are dropped (its connections die);
//  - a unary fetch call may be delivered twice (a client retry), so its answer may repeat.
import type { NodeName } from '@bunker/proto/ids';
import type { PeerMessage } from '../../agent/src/replication/index.js';
import type { Prng } from './prng.js';

type Channel = 'append' | 'ship' | 'fetch' | 'control';

export interface InFlight {
  readonly from: NodeName;
  readonly to: NodeName;
  readonly message: PeerMessage;
}

function channelOf(message: PeerMessage): Channel {
  switch (message.kind) {
    case 'append':
    case 'append-ack':
      return 'append';
    case 'ship':
    case 'ship-ack':
      return 'ship';
    case 'fetch-request':
    case 'fetch-block':
      return 'fetch';
    case 'stale-epoch':
      return 'control';
  }
}

export function linkKey(a: NodeName, b: NodeName): string {
  return a < b ? `${a}~${b}` : `${b}~${a}`;
}

export class SimNetwork {
  private readonly queues = new Map<string, InFlight[]>();
  readonly partitioned = new Set<string>();
  sent = 0;
  dropped = 0;

  constructor(private readonly queueLengthMax: number) {}

  send(from: NodeName, to: NodeName, message: PeerMessage): void {
    this.sent += 1;
    if (this.partitioned.has(linkKey(from, to))) {
      this.dropped += 1;
      return;
    }
    const key = `${from}>${to}:${channelOf(message)}`;
    const queue = this.queues.get(key) ?? [];
    // A bounded socket buffer: a sender that outruns it loses the stream's tail; the core's
    // resend-from-last-ack covers it (and the in-flight limits keep this from happening).
    if (queue.length >= this.queueLengthMax) {
      this.dropped += 1;
      return;
    }
    queue.push({ from, to, message });
    this.queues.set(key, queue);
  }

  pending(): number {
    let n = 0;
    for (const queue of this.queues.values()) n += queue.length;
    return n;
  }

  /** Takes the head of a random non-empty stream. */
  take(prng: Prng): InFlight | null {
    const keys = [...this.queues.keys()].filter((key) => (this.queues.get(key)?.length ?? 0) > 0);
    if (keys.length === 0) return null;
    const queue = this.queues.get(prng.pick(keys.sort()));
    return queue?.shift() ?? null;
  }

  /** Re-enqueues a unary call behind its stream: the client retried it. */
  duplicate(message: InFlight): void {
    if (message.message.kind === 'fetch-request' || message.message.kind === 'fetch-block') {
      this.send(message.from, message.to, message.message);
    }
  }

  partition(a: NodeName, b: NodeName): void {
    this.partitioned.add(linkKey(a, b));
    this.dropBetween(a, b);
  }

  heal(a: NodeName, b: NodeName): void {
    this.partitioned.delete(linkKey(a, b));
  }

  isPartitioned(a: NodeName, b: NodeName): boolean {
    return this.partitioned.has(linkKey(a, b));
  }

  dropNode(node: NodeName): void {
    for (const [key, queue] of this.queues) {
      if (queue.length > 0 && (queue[0]?.from === node || queue[0]?.to === node)) {
        this.dropped += queue.length;
        this.queues.set(key, []);
      }
    }
  }

  private dropBetween(a: NodeName, b: NodeName): void {
    for (const [key, queue] of this.queues) {
      const head = queue[0];
      if (head !== undefined && ((head.from === a && head.to === b) || (head.from === b && head.to === a))) {
        this.dropped += queue.length;
        this.queues.set(key, []);
      }
    }
  }
}
