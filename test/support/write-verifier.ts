// Checks a volume's bytes against what the verifiable writer saw acknowledged. A block must
// hold the last acknowledged write to its offset, or a later write that was issued but whose
// acknowledgement the writer never saw (in flight when the primary died): never an older one,
// never garbage. Returns the count of lost acknowledged writes (blocks that went backwards).
import { open, readFile } from 'node:fs/promises';

const BLOCK = 4096;
const MAGIC = 0xb0bc0de5n;

export interface VerifyResult {
  readonly acknowledged: number;
  readonly blocksChecked: number;
  readonly lost: ReadonlyArray<{ offset: number; acknowledged: number; found: string }>;
}

export async function lastAcknowledged(ackLogPath: string): Promise<Map<number, number>> {
  const last = new Map<number, number>();
  const text = await readFile(ackLogPath, 'utf8');
  for (const line of text.split('\n')) {
    const [offset, counter] = line.trim().split(' ').map(Number);
    if (offset === undefined || counter === undefined || Number.isNaN(offset) || Number.isNaN(counter)) continue;
    last.set(offset, Math.max(last.get(offset) ?? 0, counter));
  }
  return last;
}

function expectedFill(offset: number, counter: number): bigint {
  return (BigInt(offset) * 1_000_003n + BigInt(counter)) & 0xffff_ffff_ffff_ffffn;
}

/** `read(offset, length)` reads the volume (a data file, or through NBD). */
export async function verifyAcknowledged(ackLogPath: string, read: (offset: number, length: number) => Promise<Buffer>): Promise<VerifyResult> {
  const last = await lastAcknowledged(ackLogPath);
  const lost: Array<{ offset: number; acknowledged: number; found: string }> = [];
  for (const [offset, acknowledged] of last) {
    const block = await read(offset, BLOCK);
    const magic = block.readBigUInt64LE(0);
    const foundOffset = Number(block.readBigUInt64LE(8));
    const counter = Number(block.readBigUInt64LE(16));
    const intact = magic === MAGIC && foundOffset === offset && block.readBigUInt64LE(24) === expectedFill(offset, counter) &&
      block.readBigUInt64LE(BLOCK - 8) === expectedFill(offset, counter);
    if (!intact) lost.push({ offset, acknowledged, found: magic === MAGIC ? `a corrupt block claiming write ${counter}` : 'no written block' });
    else if (counter < acknowledged) lost.push({ offset, acknowledged, found: `older write ${counter}` });
  }
  return { acknowledged: [...last.values()].length, blocksChecked: last.size, lost };
}

/** Reads `length` bytes at `offset` of a replica's data file (zeroes past its end). */
export async function readFileRange(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, offset);
    return buffer;
  } finally {
    await handle.close();
  }
}
