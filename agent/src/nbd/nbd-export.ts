// One named export: a BlockDevice plus what the server tells clients about it. Built once when
// the export is added, after checking the device's constraints against the protocol's rules, so
// the handshake and the request parser work from plain, validated numbers.
import { BunkerError } from '@bunker/proto/bunker-error';
import type { BlockDevice } from './block-device.js';
import { isProtocolString, type ExportView } from './handshake.js';
import {
  MINIMUM_BLOCK_BYTES_MAX,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
} from './protocol-constants.js';
import type { ExportLimits } from './request-parser.js';

export interface ExportOptions {
  /** Shown to clients by NBD_OPT_LIST and NBD_INFO_DESCRIPTION. */
  readonly description?: string;
  /** Advertise NBD_FLAG_READ_ONLY and refuse writes, trims and write-zeroes with EPERM. */
  readonly readOnly?: boolean;
}

export interface NbdExport extends ExportView, ExportLimits {
  readonly device: BlockDevice;
}

export type NbdServerErrorCode = 'nbd-export-invalid' | 'nbd-export-exists' | 'nbd-server-closed';

export function createExport(name: string, device: BlockDevice, options: ExportOptions = {}): NbdExport {
  const description = options.description ?? '';
  if (!isProtocolString(name)) invalid(`export name '${name}' is not a protocol string (UTF-8, no NUL, at most 4096 bytes)`);
  if (!isProtocolString(description)) invalid(`description of export '${name}' is not a protocol string`);
  checkConstraints(name, device);
  const readOnly = options.readOnly ?? false;
  return {
    name,
    description,
    device,
    readOnly,
    sizeBytes: device.sizeBytes,
    minimumBlockBytes: device.minimumBlockBytes,
    preferredBlockBytes: device.preferredBlockBytes,
    maximumPayloadBytes: device.maximumPayloadBytes,
    transmissionFlags: transmissionFlags(device, readOnly),
  };
}

/**
 * FLUSH and FUA are always offered: they are how a client asks for durability, which is the
 * point of Bunker. TRIM and WRITE_ZEROES are offered on writable exports (they are writes in the
 * change log). CAN_MULTI_CONN only when the device promises that a flush covers writes completed
 * on every connection; a per-connection cache or log would make it unsafe. Not offered: ROTATIONAL
 * (meaningless here), DF and structured replies (simple replies only), CACHE, FAST_ZERO (a write
 * of zeroes costs a log entry like any write, so it is never "fast" in the spec's sense).
 */
function transmissionFlags(device: BlockDevice, readOnly: boolean): number {
  let flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA;
  flags |= readOnly ? NBD_FLAG_READ_ONLY : NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
  if (device.flushCoversAllWrites) flags |= NBD_FLAG_CAN_MULTI_CONN;
  return flags;
}

/** The "Size constraints" section of the spec, as checks on what the device declares. */
function checkConstraints(name: string, device: BlockDevice): void {
  const { sizeBytes, minimumBlockBytes: minimum, preferredBlockBytes: preferred, maximumPayloadBytes: maximum } = device;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) invalid(`export '${name}': size ${sizeBytes} is not a byte count`);
  if (!isPowerOfTwo(minimum) || minimum > MINIMUM_BLOCK_BYTES_MAX) {
    invalid(`export '${name}': minimum block ${minimum} is not a power of two up to ${MINIMUM_BLOCK_BYTES_MAX}`);
  }
  if (!isPowerOfTwo(preferred) || preferred < Math.max(minimum, 512)) {
    invalid(`export '${name}': preferred block ${preferred} is not a power of two at least max(minimum block, 512)`);
  }
  if (!Number.isSafeInteger(maximum) || maximum < preferred || maximum > 0xffff_ffff) {
    invalid(`export '${name}': maximum payload ${maximum} is not between the preferred block and 2^32-1`);
  }
  if (sizeBytes % minimum !== 0) invalid(`export '${name}': size ${sizeBytes} is not a multiple of the minimum block ${minimum}`);
}

function isPowerOfTwo(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0 && Number.isInteger(Math.log2(value));
}

function invalid(message: string): never {
  throw new BunkerError<NbdServerErrorCode>('nbd-export-invalid', message, { hint: 'fix the device constraints or the export name' });
}
