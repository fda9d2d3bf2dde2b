// Method: a consumer issuing verifiable requests to whichever node the operator says is the
// primary (the Service endpoint), a few at a time: writes whose every block encodes its own
// block number and the write's counter, zeroes, trims and flushes, some with FUA. It records
// in the oracle what reached a primary and what was acknowledged. A request to a crashed node
// has no answer and is forgotten (its outcome is unknown, so the oracle allows either).
import type { Epoch, NodeName } from '@bunker/proto/ids';
import type { ConsumerOp, ConsumerRequest, RequestAnswer } from '../../agent/src/replication/index.js';
import { encodeBlock } from './block-content.js';
import type { Prng } from './prng.js';
import type { SimNode } from './sim-node.js';
import type { WriteOracle } from './write-oracle.js';

export interface ClientOp {
  readonly id: number;
  readonly counter: number;
  readonly op: ConsumerOp;
  readonly firstBlock: number;
  readonly blocks: number;
  readonly fua: boolean;
  readonly node: NodeName;
  readonly epoch: Epoch;
}

export class SimClient {
  private counter = 0;
  readonly outstanding = new Map<number, ClientOp>();
  acknowledged = 0;
  failed = 0;

  constructor(
    private readonly oracle: WriteOracle,
    private readonly blockBytes: number,
    private readonly blockCount: number,
    private readonly outstandingMax: number,
  ) {}

  canIssue(): boolean {
    return this.outstanding.size < this.outstandingMax;
  }

  issue(prng: Prng, target: SimNode): ClientOp {
    this.counter += 1;
    const counter = this.counter;
    const op = prng.weighted<ConsumerOp>([['write', 14], ['zero', 1], ['trim', 1], ['flush', 3]]);
    const blocks = op === 'flush' ? 0 : prng.between(1, 3);
    const firstBlock = op === 'flush' ? 0 : prng.int(this.blockCount - blocks + 1);
    const payload = new Uint8Array(op === 'write' ? blocks * this.blockBytes : 0);
    for (let i = 0; i < blocks && op === 'write'; i += 1) encodeBlock(payload, i * this.blockBytes, firstBlock + i, counter);
    const clientOp: ClientOp = {
      id: counter,
      counter,
      op,
      firstBlock,
      blocks,
      fua: op !== 'flush' && prng.chance(0.2),
      node: target.name,
      epoch: target.disk.intent.epoch,
    };
    if (op !== 'flush') this.oracle.issued(counter, op, firstBlock, blocks);
    this.outstanding.set(clientOp.id, clientOp);
    const request: ConsumerRequest = {
      id: clientOp.id,
      op,
      offset: firstBlock * this.blockBytes,
      length: blocks * this.blockBytes,
      payload,
      fua: clientOp.fua,
    };
    target.step({ kind: 'consumer-request', request });
    return clientOp;
  }

  /** Returns the operation answered, or null for an answer nobody waits for. */
  onAnswer(answer: RequestAnswer): ClientOp | null {
    const op = this.outstanding.get(answer.id);
    if (op === undefined) return null;
    this.outstanding.delete(answer.id);
    if (answer.kind === 'ok') {
      this.acknowledged += 1;
      if (op.op !== 'flush') this.oracle.acknowledged(op.counter, op.firstBlock, op.blocks);
    } else {
      this.failed += 1;
    }
    return op;
  }

  forget(node: NodeName): void {
    for (const [id, op] of this.outstanding) if (op.node === node) this.outstanding.delete(id);
  }
}
