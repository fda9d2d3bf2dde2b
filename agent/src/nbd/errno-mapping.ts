// The one table that turns a device failure into the error value an NBD client sees. The
// decision is made on the stable `code` of a BunkerError, never on message text. Anything that
// is not a BunkerError with a known device code is an unexpected failure: the client gets EIO
// (the only safe answer for data it cannot trust) and the caller is told it was unexpected so it
// can log it with its cause.
import { BunkerError } from '@bunker/proto/bunker-error';
import type { BlockDeviceErrorCode } from './block-device.js';
import {
  NBD_EINVAL,
  NBD_EIO,
  NBD_ENOSPC,
  NBD_ENOTSUP,
  NBD_EPERM,
  NBD_ESHUTDOWN,
  type NbdErrno,
} from './protocol-constants.js';

export const DEVICE_ERRNO: Readonly<Record<BlockDeviceErrorCode, NbdErrno>> = {
  'io-error': NBD_EIO,
  // The spec: map EDQUOT and EFBIG to ENOSPC too; the file device folds them into 'no-space'.
  'no-space': NBD_ENOSPC,
  // The spec: EPERM for a write or trim on a read-only export. A secondary or bunker is
  // read-only from the client's point of view.
  'read-only': NBD_EPERM,
  'not-primary': NBD_EPERM,
  // The write cannot be acknowledged without its durable copy; the data is not written.
  'recovery-copy-unavailable': NBD_EIO,
  'invalid-request': NBD_EINVAL,
  'out-of-range': NBD_EINVAL,
  // The spec: a client that receives ESHUTDOWN must disconnect softly.
  'shutting-down': NBD_ESHUTDOWN,
  'not-supported': NBD_ENOTSUP,
};

export interface ErrnoVerdict {
  readonly errno: NbdErrno;
  /** False for anything outside the device's closed set of codes: a bug or an unmapped failure. */
  readonly expected: boolean;
}

export function errnoForDeviceError(error: unknown): ErrnoVerdict {
  if (BunkerError.is(error) && isDeviceErrorCode(error.code)) {
    return { errno: DEVICE_ERRNO[error.code], expected: true };
  }
  return { errno: NBD_EIO, expected: false };
}

function isDeviceErrorCode(code: string): code is BlockDeviceErrorCode {
  return Object.hasOwn(DEVICE_ERRNO, code);
}
