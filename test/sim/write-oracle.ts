// Method: the client's record of what it asked for and what it was told, block by block, and
// the rule for what a replica may hold: for a block whose last acknowledged operation is X,
// any operation on that block issued at or after X (acknowledged or not: an unanswered or
// failed write may still have taken effect), never anything older and never garbage.
// Before any acknowledgement a block may also hold its initial zeroes.
import type { BlockContent } from './block-content.js';

export type OpKind = 'write' | 'zero' | 'trim';

interface BlockOps {
  /** Counters of operations touching the block that reached a primary, ascending. */
  readonly issued: { readonly counter: number; readonly kind: OpKind }[];
  /** Highest acknowledged counter, 0 if none. */
  acked: number;
}

export class WriteOracle {
  private readonly blocks: BlockOps[];

  constructor(blockCount: number) {
    this.blocks = Array.from({ length: blockCount }, () => ({ issued: [], acked: 0 }));
  }

  issued(counter: number, kind: OpKind, firstBlock: number, blockCount: number): void {
    for (let b = firstBlock; b < firstBlock + blockCount; b += 1) this.at(b).issued.push({ counter, kind });
  }

  acknowledged(counter: number, firstBlock: number, blockCount: number): void {
    for (let b = firstBlock; b < firstBlock + blockCount; b += 1) {
      const ops = this.at(b);
      if (counter > ops.acked) ops.acked = counter;
    }
  }

  /** Blocks with an acknowledged operation: the ones whose loss is a violation. */
  ackedBlocks(): number[] {
    const out: number[] = [];
    this.blocks.forEach((ops, b) => {
      if (ops.acked > 0) out.push(b);
    });
    return out;
  }

  lastAcked(block: number): number {
    return this.at(block).acked;
  }

  /** Null when the content is acceptable, else why not. */
  judge(block: number, content: BlockContent): string | null {
    const ops = this.at(block);
    switch (content.kind) {
      case 'corrupt':
        return 'garbage';
      case 'zero':
        if (ops.acked === 0) return null;
        return ops.issued.some((op) => op.counter >= ops.acked && op.kind !== 'write') ? null : `zeroes, but write#${ops.acked} was acknowledged`;
      case 'write': {
        const op = ops.issued.find((o) => o.counter === content.counter);
        if (op === undefined || op.kind !== 'write') return `write#${content.counter} was never issued to this block`;
        return content.counter >= ops.acked ? null : `write#${content.counter}, older than acknowledged #${ops.acked}`;
      }
    }
  }

  private at(block: number): BlockOps {
    const ops = this.blocks[block];
    if (ops === undefined) throw new RangeError(`block ${block}`);
    return ops;
  }
}
