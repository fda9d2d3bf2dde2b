// CRC32C (Castagnoli) over log headers and payloads, from @node-rs/crc32: native code that
// uses the CPU's crc32 instruction (SSE4.2 / ARMv8). bench/log measures it against a pure
// TypeScript table implementation; the figure is in docs/log.md.
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of `data`, continuing from `previous` (the CRC of the bytes before it) if given. */
export function crc32c(data: Uint8Array, previous = 0): number {
  return nativeCrc32c(data, previous) >>> 0;
}
