// Transmission-phase requests as pure functions: 28 header bytes in, a typed request or a typed
// refusal out, checked against the export's size and limits. The connection never calls the
// device with anything this module has not approved, so a device sees only known commands with
// in-range, aligned offsets and lengths.
//
// The u64 offset is read as a BigInt and compared with BigInt arithmetic, so an offset near 2^64
// cannot wrap; only after the range is known to lie inside the export (whose size is a safe
// integer) is it turned into a number.
import {
  NBD_CMD_DISC,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_EINVAL,
  NBD_ENOSPC,
  NBD_EPERM,
  NBD_REQUEST_MAGIC,
  PAYLOAD_TOLERATED_BYTES,
  REQUEST_HEADER_BYTES,
  type NbdErrno,
} from './protocol-constants.js';

export interface RequestHeader {
  readonly flags: number;
  readonly type: number;
  /** Opaque to the server; echoed in the reply. */
  readonly cookie: bigint;
  readonly offset: bigint;
  readonly length: number;
}

export type HeaderParse =
  | { readonly kind: 'header'; readonly header: RequestHeader }
  | { readonly kind: 'bad-magic'; readonly magic: number }
  | { readonly kind: 'short-input' };

export interface ExportLimits {
  readonly sizeBytes: number;
  readonly minimumBlockBytes: number;
  readonly maximumPayloadBytes: number;
  readonly readOnly: boolean;
}

/** Command names as the observer and the logs see them. */
export type NbdRequestKind = 'read' | 'write' | 'flush' | 'trim' | 'write-zeroes' | 'disconnect' | 'other';

export type NbdRequest =
  | { readonly kind: 'read'; readonly cookie: bigint; readonly offset: number; readonly length: number }
  | { readonly kind: 'write'; readonly cookie: bigint; readonly offset: number; readonly length: number; readonly fua: boolean }
  | { readonly kind: 'flush'; readonly cookie: bigint }
  | { readonly kind: 'trim'; readonly cookie: bigint; readonly offset: number; readonly length: number; readonly fua: boolean }
  | {
      readonly kind: 'write-zeroes';
      readonly cookie: bigint;
      readonly offset: number;
      readonly length: number;
      readonly fua: boolean;
      readonly noHole: boolean;
    }
  | { readonly kind: 'disconnect' };

export type RejectReason = 'unknown-command' | 'bad-flags' | 'read-only' | 'over-maximum-payload' | 'past-end' | 'misaligned';

export type RequestVerdict =
  | { readonly kind: 'serve'; readonly request: NbdRequest }
  /** Reply with `errno`, after reading and dropping `discardBytes` of write payload. */
  | {
      readonly kind: 'reject';
      readonly cookie: bigint;
      readonly command: NbdRequestKind;
      readonly errno: NbdErrno;
      readonly reason: RejectReason;
      readonly discardBytes: number;
    }
  /** The stream cannot be trusted or followed any further: hard disconnect. */
  | { readonly kind: 'protocol-error'; readonly reason: 'bad-magic' | 'payload-too-large' };

/** Flags each command accepts. FUA is accepted everywhere: the spec says clients set it on any command. */
const ALLOWED_FLAGS: ReadonlyMap<number, number> = new Map([
  [NBD_CMD_READ, NBD_CMD_FLAG_FUA],
  [NBD_CMD_WRITE, NBD_CMD_FLAG_FUA],
  [NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA],
  [NBD_CMD_TRIM, NBD_CMD_FLAG_FUA],
  [NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE],
]);

const COMMAND_KIND: ReadonlyMap<number, NbdRequestKind> = new Map([
  [NBD_CMD_READ, 'read'],
  [NBD_CMD_WRITE, 'write'],
  [NBD_CMD_DISC, 'disconnect'],
  [NBD_CMD_FLUSH, 'flush'],
  [NBD_CMD_TRIM, 'trim'],
  [NBD_CMD_WRITE_ZEROES, 'write-zeroes'],
]);

export function parseRequestHeader(bytes: Uint8Array): HeaderParse {
  if (bytes.length < REQUEST_HEADER_BYTES) return { kind: 'short-input' };
  const view = new DataView(bytes.buffer, bytes.byteOffset, REQUEST_HEADER_BYTES);
  const magic = view.getUint32(0);
  if (magic !== NBD_REQUEST_MAGIC) return { kind: 'bad-magic', magic };
  return {
    kind: 'header',
    header: {
      flags: view.getUint16(4),
      type: view.getUint16(6),
      cookie: view.getBigUint64(8),
      offset: view.getBigUint64(16),
      length: view.getUint32(24),
    },
  };
}

export function parseRequest(bytes: Uint8Array, limits: ExportLimits): RequestVerdict | { readonly kind: 'short-input' } {
  const parsed = parseRequestHeader(bytes);
  if (parsed.kind === 'short-input') return parsed;
  if (parsed.kind === 'bad-magic') return { kind: 'protocol-error', reason: 'bad-magic' };
  return validateRequest(parsed.header, limits);
}

export function validateRequest(header: RequestHeader, limits: ExportLimits): RequestVerdict {
  const { type, flags, cookie, length } = header;
  const command = COMMAND_KIND.get(type) ?? 'other';
  // The spec: DISC's offset and length MUST be zero, but there is nothing to answer: just stop.
  if (type === NBD_CMD_DISC) return { kind: 'serve', request: { kind: 'disconnect' } };
  const payloadBytes = type === NBD_CMD_WRITE ? length : 0;
  if (payloadBytes > Math.max(limits.maximumPayloadBytes, PAYLOAD_TOLERATED_BYTES)) {
    // Above what the spec asks servers to tolerate: reading it would be a denial of service.
    return { kind: 'protocol-error', reason: 'payload-too-large' };
  }
  const reject = (errno: NbdErrno, reason: RejectReason): RequestVerdict =>
    ({ kind: 'reject', cookie, command, errno, reason, discardBytes: payloadBytes });

  const allowedFlags = ALLOWED_FLAGS.get(type);
  if (allowedFlags === undefined) return reject(NBD_EINVAL, 'unknown-command');
  if ((flags & ~allowedFlags) !== 0) return reject(NBD_EINVAL, 'bad-flags');
  const fua = (flags & NBD_CMD_FLAG_FUA) !== 0;
  // The spec: FLUSH's offset and length are reserved; they are ignored rather than refused.
  if (type === NBD_CMD_FLUSH) return { kind: 'serve', request: { kind: 'flush', cookie } };

  const writes = type !== NBD_CMD_READ;
  if (writes && limits.readOnly) return reject(NBD_EPERM, 'read-only');
  if ((type === NBD_CMD_READ || type === NBD_CMD_WRITE) && length > limits.maximumPayloadBytes) {
    return reject(NBD_EINVAL, 'over-maximum-payload');
  }
  if (header.offset + BigInt(length) > BigInt(limits.sizeBytes)) {
    // The spec: ENOSPC for a write or write-zeroes past the end, EINVAL for a read or trim.
    return reject(type === NBD_CMD_WRITE || type === NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC : NBD_EINVAL, 'past-end');
  }
  // Exact: the range ends inside the export, whose size is a safe integer.
  const offset = Number(header.offset);
  if (!Number.isSafeInteger(offset)) throw new Error(`unreachable: offset ${header.offset} passed the bounds check`);
  if (offset % limits.minimumBlockBytes !== 0 || length % limits.minimumBlockBytes !== 0) {
    return reject(NBD_EINVAL, 'misaligned');
  }
  return { kind: 'serve', request: servedRequest(type, cookie, offset, length, fua, (flags & NBD_CMD_FLAG_NO_HOLE) !== 0) };
}

function servedRequest(type: number, cookie: bigint, offset: number, length: number, fua: boolean, noHole: boolean): NbdRequest {
  switch (type) {
    case NBD_CMD_READ:
      return { kind: 'read', cookie, offset, length };
    case NBD_CMD_WRITE:
      return { kind: 'write', cookie, offset, length, fua };
    case NBD_CMD_TRIM:
      return { kind: 'trim', cookie, offset, length, fua };
    case NBD_CMD_WRITE_ZEROES:
      return { kind: 'write-zeroes', cookie, offset, length, fua, noHole };
    default:
      throw new Error(`unreachable: command ${type} passed validation without a request shape`);
  }
}
