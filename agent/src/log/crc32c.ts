// CRC32C (Castagnoli) over log headers and payloads, from @node-rs/crc32: native code that
// uses the CPU's crc32 instruction (SSE4.2 / ARMv8). bench/log measures it against a pure
// TypeScript table implementation; the figure is in docs/log.md.
//
// A payload is checked twice on every agent: the wire CRC of its entry (header fields +
// payload) and its log record's CRC (record header + payload). Both are CRCs of "some header,
// then the payload", so the payload's own CRC is computed once (payloadCrc32c, remembered per
// payload buffer) and each whole CRC is combined from it and its header's CRC without reading
// the payload again (crc32cCombine): at 1 MiB a pass over the payload costs as much as a copy.
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of `data`, continuing from `previous` (the CRC of the bytes before it) if given. */
export function crc32c(data: Uint8Array, previous = 0): number {
  return nativeCrc32c(data, previous) >>> 0;
}

/** The Castagnoli polynomial, bit-reversed (CRC32C is computed least significant bit first). */
const POLYNOMIAL = 0x82f63b78;
const TOP_BIT = 0x80000000;

/**
 * a(x) * b(x) modulo the polynomial, both as bit-reversed 32-bit values (the top bit is the
 * coefficient of x^0).
 */
function multiplyModP(a: number, b: number): number {
  let product = 0;
  let factor = b >>> 0;
  for (let bit = TOP_BIT; bit !== 0; bit >>>= 1) {
    if ((a & bit) !== 0) product ^= factor;
    factor = (factor & 1) !== 0 ? (factor >>> 1) ^ POLYNOMIAL : factor >>> 1;
  }
  return product >>> 0;
}

/**
 * x^(2^k) modulo the polynomial, for k = 0..63 (repeated squaring from x^1): enough for any
 * safe-integer length in bits. (Modulo the Castagnoli polynomial these powers do not repeat
 * after 32 squarings, so a 32-entry table would be wrong past 2^28 bytes; a test checks.)
 */
const X_POW_2K: readonly number[] = (() => {
  const powers = [TOP_BIT >>> 1];
  for (let k = 1; k < 64; k += 1) {
    const previous = powers[k - 1] ?? 0;
    powers.push(multiplyModP(previous, previous));
  }
  return powers;
})();

/**
 * Shifts already computed, by length: entries come in a handful of sizes (4 KiB above all),
 * and each shift costs some hundreds of steps. Bounded: lengths past the limit are not kept.
 */
const shifts = new Map<number, number>();
const SHIFTS_KEPT_MAX = 4096;

/** x^(8 * bytes) modulo the polynomial: what appending `bytes` bytes multiplies a CRC by. */
function shiftForBytes(bytes: number): number {
  let shift = shifts.get(bytes);
  if (shift === undefined) {
    shift = computeShift(bytes);
    if (shifts.size < SHIFTS_KEPT_MAX) shifts.set(bytes, shift);
  }
  return shift;
}

function computeShift(bytes: number): number {
  let result = TOP_BIT; // x^0
  let bits = bytes * 8;
  for (let k = 0; bits > 0; k += 1, bits = Math.floor(bits / 2)) {
    if (bits % 2 === 1) result = multiplyModP(X_POW_2K[k] ?? 0, result);
  }
  return result;
}

/**
 * The CRC32C of A followed by B, from crc32c(A), crc32c(B) and B's length: the same value as
 * crc32c(B, crc32c(A)), without reading B.
 */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB === 0) return crcA >>> 0;
  return (multiplyModP(shiftForBytes(lengthB), crcA >>> 0) ^ crcB) >>> 0;
}

/**
 * Payload CRCs already computed, by buffer. Payloads are never modified once they are in an
 * entry (a log append and the wire codec hold the same rule), so a payload's CRC stays valid;
 * the map holds nothing once the buffer is garbage.
 */
const payloadCrcs = new WeakMap<Uint8Array, number>();

/** CRC32C of a payload, computed once per payload buffer. */
export function payloadCrc32c(payload: Uint8Array): number {
  let crc = payloadCrcs.get(payload);
  if (crc === undefined) {
    crc = crc32c(payload);
    payloadCrcs.set(payload, crc);
  }
  return crc;
}

/** crc32c(payload, headerCrc), with the payload read at most once per buffer. */
export function crc32cAfter(headerCrc: number, payload: Uint8Array): number {
  return crc32cCombine(headerCrc, payloadCrc32c(payload), payload.length);
}
