// The contract between the NBD server and what it serves. The replicated volume (primary role)
// implements it on top of the write path; `FileBlockDevice` implements it on a plain file for
// tests and as a baseline. The server validates every request against the size and block
// constraints before calling the device, so a device sees only in-range, aligned requests; it
// still checks bounds itself, as a second line of defence for other callers.
import { BunkerError } from '@bunker/proto/bunker-error';

export interface WriteOptions {
  /** Force unit access: resolve only once this operation's effect is durable. */
  readonly fua: boolean;
}

export interface WriteZeroesOptions extends WriteOptions {
  /** The range must stay allocated (no hole may be punched), so later writes cannot hit ENOSPC. */
  readonly noHole: boolean;
}

export interface BlockDevice {
  /** Bytes addressable by clients; constant while the device is exported. */
  readonly sizeBytes: number;
  /** Alignment and granularity of every request (a power of two, 1 to 64 KiB). */
  readonly minimumBlockBytes: number;
  /** Size and alignment below which I/O becomes inefficient (power of two, ≥ 512). */
  readonly preferredBlockBytes: number;
  /** Largest read or write payload accepted in one request (≥ preferredBlockBytes). */
  readonly maximumPayloadBytes: number;
  /**
   * True when `flush()` (and a FUA operation) makes durable every write that had completed
   * before it was called, whichever connection issued it, and every completed write is visible
   * to reads from any connection. Only then may the server advertise NBD_FLAG_CAN_MULTI_CONN.
   */
  readonly flushCoversAllWrites: boolean;

  /** Resolves with exactly `length` bytes. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Resolves once the data is written (durable too if `fua`). The device owns `data` from the
   * call on: the server never reuses or changes it.
   */
  write(offset: number, data: Uint8Array, options: WriteOptions): Promise<void>;
  /** A hint that the range is no longer needed; its contents are undefined until rewritten. */
  trim(offset: number, length: number, options: WriteOptions): Promise<void>;
  /** The range reads back as zeroes once this resolves. */
  writeZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void>;
  /** Resolves once every write that completed before the call is durable. */
  flush(): Promise<void>;
}

/**
 * The closed set of failures a device reports. The server maps each to an NBD error value in
 * one table (errno-mapping.ts); it never looks at message text.
 */
export type BlockDeviceErrorCode =
  /** The storage failed to read or write; the data may be unreadable. */
  | 'io-error'
  /** The backing store is full (or over quota, or the file would grow too large). */
  | 'no-space'
  /** The device does not accept writes at all (opened read-only, read-only media). */
  | 'read-only'
  /** This replica is not the primary of its volume (any more): writes must go elsewhere. */
  | 'not-primary'
  /** Writes cannot be made durable on the recovery node (bunker) in `recovery: sync` mode. */
  | 'recovery-copy-unavailable'
  /** The request is malformed for this device (bad alignment, zero-sized, ...). */
  | 'invalid-request'
  /** The request reaches past the end of the device. */
  | 'out-of-range'
  /** The device is closing or closed; the client should disconnect and reconnect later. */
  | 'shutting-down'
  /** The device does not implement this operation. */
  | 'not-supported';

export type BlockDeviceError = BunkerError<BlockDeviceErrorCode>;

export function blockDeviceError(
  code: BlockDeviceErrorCode,
  message: string,
  options: { hint?: string; cause?: unknown } = {},
): BlockDeviceError {
  return new BunkerError(code, message, options);
}

/** Throws `out-of-range` unless [offset, offset + length) lies inside a device of `sizeBytes`. */
export function assertInDevice(sizeBytes: number, offset: number, length: number): void {
  const inside = Number.isSafeInteger(offset) && Number.isSafeInteger(length) &&
    offset >= 0 && length >= 0 && offset <= sizeBytes - length;
  if (!inside) {
    throw blockDeviceError('out-of-range', `range ${offset}+${length} is outside a device of ${sizeBytes} bytes`);
  }
}
