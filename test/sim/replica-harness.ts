// Method: a hand-cranked driver for scenario tests of the replication core, in the style of
// raft's interaction tests: step one event, take the Ready it produced, assert on it. It does
// no I/O and never completes anything by itself: a test says when the log is durable, when
// entries are applied, and which message arrives, so every interleaving is explicit.
import type { Epoch, NodeName, Seq } from '@bunker/proto/ids';
import { epoch as toEpoch, nodeName, seq as toSeq } from '@bunker/proto/ids';
import type { Entry } from '../../agent/src/log/entry.js';
import {
  DEFAULT_MODES,
  NO_BUGS,
  Replica,
  freshRestoredState,
  type ConsumerRequest,
  type Event,
  type Intent,
  type Modes,
  type PeerMessage,
  type Ready,
  type ReplicaLimits,
  type RestoredState,
  type TestOnlyBugs,
} from '../../agent/src/replication/index.js';

export const A = nodeName('a');
export const B = nodeName('b');
export const C = nodeName('c');

export function harnessLimits(overrides: Partial<ReplicaLimits> = {}): ReplicaLimits {
  return {
    volumeBytes: 64 * 1024,
    blockBytes: 512,
    regionBytes: 4096,
    windowEntriesMax: 8,
    windowBytesMax: 64 * 1024,
    pendingRequestsMax: 8,
    logBytesMax: Number.POSITIVE_INFINITY,
    batchEntriesMax: 4,
    batchBytesMax: 16 * 1024,
    inflightEntriesMax: 6,
    inflightBytesMax: 32 * 1024,
    applyQueueEntriesMax: 8,
    applyQueueBytesMax: 64 * 1024,
    fetchEntriesMax: 3,
    fetchBytesMax: 16 * 1024,
    heartbeatTicks: 2,
    resendTicks: 5,
    peerTimeoutTicks: 8,
    fetchTimeoutTicks: 4,
    ...overrides,
  };
}

export interface HarnessOptions {
  readonly node?: NodeName;
  readonly limits?: Partial<ReplicaLimits>;
  readonly bugs?: Partial<TestOnlyBugs>;
  readonly restored?: RestoredState;
}

export class Harness {
  readonly replica: Replica;
  readonly node: NodeName;
  private requestIds = 0;
  private configureIds = 0;

  constructor(options: HarnessOptions = {}) {
    this.node = options.node ?? A;
    this.replica = new Replica(
      { node: this.node, limits: harnessLimits(options.limits), bugs: { ...NO_BUGS, ...options.bugs } },
      options.restored ?? freshRestoredState(),
    );
  }

  /** Steps the event and returns the Ready it produced (already advanced). */
  step(event: Event): Ready {
    this.replica.step(event);
    return this.take();
  }

  take(): Ready {
    const ready = this.replica.ready();
    this.replica.advance(ready);
    return ready;
  }

  configure(intent: Intent, extra: { resetLogToSeq?: Seq; clearChangeMap?: boolean } = {}): Ready {
    this.configureIds += 1;
    return this.step({
      kind: 'configure',
      configureId: this.configureIds,
      intent,
      resetLogToSeq: extra.resetLogToSeq ?? null,
      clearChangeMap: extra.clearChangeMap ?? false,
    });
  }

  request(op: ConsumerRequest['op'], offset = 0, blocks = 1, fua = false): { id: number; ready: Ready } {
    this.requestIds += 1;
    const id = this.requestIds;
    const length = op === 'flush' ? 0 : blocks * 512;
    const payload = new Uint8Array(op === 'write' ? length : 0).fill(id & 0xff);
    return { id, ready: this.step({ kind: 'consumer-request', request: { id, op, offset: op === 'flush' ? 0 : offset, length, payload, fua } }) };
  }

  write(offset = 0, blocks = 1, fua = false): { id: number; ready: Ready } {
    return this.request('write', offset, blocks, fua);
  }

  receive(from: NodeName, message: PeerMessage): Ready {
    return this.step({ kind: 'message', from, message });
  }

  durable(throughSeq: number): Ready {
    return this.step({ kind: 'local-append-durable', throughSeq: toSeq(throughSeq) });
  }

  applied(throughSeq: number): Ready {
    return this.step({ kind: 'data-applied', throughSeq: toSeq(throughSeq) });
  }

  ticks(count: number): Ready[] {
    return Array.from({ length: count }, () => {
      this.replica.tick();
      return this.take();
    });
  }
}

export function intent(role: Intent['role'], epochNumber: number, peers: Partial<Pick<Intent, 'primary' | 'bunker' | 'secondary'>> = {}, modes: Partial<Modes> = {}): Intent {
  return {
    role,
    epoch: toEpoch(epochNumber),
    modes: { ...DEFAULT_MODES, ...modes },
    primary: peers.primary ?? null,
    bunker: peers.bunker ?? null,
    secondary: peers.secondary ?? null,
  };
}

export function entry(seqNumber: number, epochNumber = 1, offset = 0, fill = seqNumber): Entry {
  return { epoch: toEpoch(epochNumber), seq: toSeq(seqNumber), offset, length: 512, kind: 'write', payload: new Uint8Array(512).fill(fill & 0xff) };
}

export function appendAck(epochNumber: number, session: number, durableSeq: number, hello = false): PeerMessage {
  return { kind: 'append-ack', epoch: toEpoch(epochNumber), session, hello, durableSeq: toSeq(durableSeq) };
}

export function shipAck(epochNumber: number, session: number, durableSeq: number, appliedSeq: number, hello = false): PeerMessage {
  return { kind: 'ship-ack', epoch: toEpoch(epochNumber), session, hello, durableSeq: toSeq(durableSeq), appliedSeq: toSeq(appliedSeq) };
}

export function append(epochNumber: number, session: number, entries: readonly Entry[], options: { hello?: boolean; truncateAfterSeq?: number; trimSeq?: number; primaryAppliedSeq?: number } = {}): PeerMessage {
  return {
    kind: 'append',
    epoch: toEpoch(epochNumber),
    session,
    hello: options.hello ?? false,
    truncateAfterSeq: options.truncateAfterSeq === undefined ? null : toSeq(options.truncateAfterSeq),
    entries,
    trimSeq: toSeq(options.trimSeq ?? 0),
    primaryAppliedSeq: toSeq(options.primaryAppliedSeq ?? 0),
  };
}

export function ship(epochNumber: number, session: number, entries: readonly Entry[], commitSeq: number, hello = false): PeerMessage {
  return { kind: 'ship', epoch: toEpoch(epochNumber), session, hello, entries, commitSeq: toSeq(commitSeq) };
}

export function fetchBlock(epochNumber: number, afterSeq: number, entries: readonly Entry[], bunker: { durable: number; first: number; primaryApplied?: number }): PeerMessage {
  return {
    kind: 'fetch-block',
    epoch: toEpoch(epochNumber),
    afterSeq: toSeq(afterSeq),
    entries,
    bunkerDurableSeq: toSeq(bunker.durable),
    bunkerFirstSeq: toSeq(bunker.first),
    primaryAppliedSeq: toSeq(bunker.primaryApplied ?? 0),
  };
}

/** Messages of a Ready to one peer. */
export function to(ready: Ready, peer: NodeName): PeerMessage[] {
  return ready.messages.filter((m) => m.to === peer).map((m) => m.message);
}

export function seqs(entries: readonly Entry[]): number[] {
  return entries.map((e) => e.seq);
}

/**
 * A primary `a` in epoch 1 with bunker `b` (and optionally secondary `c`), handshake done:
 * ready to accept writes.
 */
export function servingPrimary(options: HarnessOptions & { secondary?: boolean; modes?: Partial<Modes> } = {}): Harness {
  const h = new Harness(options);
  h.configure(intent('primary', 1, { bunker: B, secondary: options.secondary === true ? C : null }, options.modes));
  h.receive(B, appendAck(1, 1, 0, true));
  if (options.secondary === true) h.receive(C, shipAck(1, 1, 0, 0, true));
  return h;
}

export const E = (n: number): Epoch => toEpoch(n);
export const S = (n: number): Seq => toSeq(n);
