// Method: every block a simulated client writes says which block it is and which write put
// it there (offset + write counter, each stored twice, once scrambled), so a checker can read
// any replica's volume and tell, block by block, which write it holds, or that it is zero,
// or that it is garbage (a torn or misplaced write).

export type BlockContent =
  | { readonly kind: 'zero' }
  | { readonly kind: 'write'; readonly counter: number }
  | { readonly kind: 'corrupt' };

const SCRAMBLE = 0xa5a5a5a5;

export function encodeBlock(target: Uint8Array, at: number, block: number, counter: number): void {
  put(target, at, block);
  put(target, at + 4, counter);
  put(target, at + 8, (counter ^ SCRAMBLE) >>> 0);
  put(target, at + 12, (block ^ counter ^ SCRAMBLE) >>> 0);
}

export function decodeBlock(source: Uint8Array, at: number, block: number): BlockContent {
  const a = get(source, at);
  const counter = get(source, at + 4);
  const c = get(source, at + 8);
  const d = get(source, at + 12);
  if (a === 0 && counter === 0 && c === 0 && d === 0) return { kind: 'zero' };
  if (a !== block || c !== ((counter ^ SCRAMBLE) >>> 0) || d !== ((block ^ counter ^ SCRAMBLE) >>> 0)) return { kind: 'corrupt' };
  return { kind: 'write', counter };
}

export function describeContent(content: BlockContent): string {
  return content.kind === 'write' ? `write#${content.counter}` : content.kind;
}

function put(target: Uint8Array, at: number, value: number): void {
  target[at] = value >>> 24;
  target[at + 1] = (value >>> 16) & 0xff;
  target[at + 2] = (value >>> 8) & 0xff;
  target[at + 3] = value & 0xff;
}

function get(source: Uint8Array, at: number): number {
  return (((source[at] ?? 0) << 24) | ((source[at + 1] ?? 0) << 16) | ((source[at + 2] ?? 0) << 8) | (source[at + 3] ?? 0)) >>> 0;
}
