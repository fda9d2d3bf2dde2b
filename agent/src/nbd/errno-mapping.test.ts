// Checks the single table from device error codes to NBD error values, and that anything outside
// the closed set (a plain Error, an unknown code) becomes EIO flagged as unexpected. Method: the
// table is compared whole, so adding a code without deciding its errno fails here.
import { BunkerError } from '@bunker/proto/bunker-error';
import { blockDeviceError } from './block-device.js';
import { DEVICE_ERRNO, errnoForDeviceError } from './errno-mapping.js';
import { NBD_EINVAL, NBD_EIO, NBD_ENOSPC, NBD_ENOTSUP, NBD_EPERM, NBD_ESHUTDOWN } from './protocol-constants.js';

describe('device error to NBD errno', () => {
  it('maps every device error code, and only those', () => {
    expect(DEVICE_ERRNO).toEqual({
      'io-error': NBD_EIO,
      'no-space': NBD_ENOSPC,
      'read-only': NBD_EPERM,
      'not-primary': NBD_EPERM,
      'recovery-copy-unavailable': NBD_EIO,
      'invalid-request': NBD_EINVAL,
      'out-of-range': NBD_EINVAL,
      'shutting-down': NBD_ESHUTDOWN,
      'not-supported': NBD_ENOTSUP,
    });
  });

  it('classifies by code, never by message', () => {
    expect(errnoForDeviceError(blockDeviceError('not-primary', 'no space left on device'))).toEqual({ errno: NBD_EPERM, expected: true });
    expect(errnoForDeviceError(blockDeviceError('no-space', 'permission denied'))).toEqual({ errno: NBD_ENOSPC, expected: true });
  });

  it('recognises a BunkerError from another copy of the module by its brand', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('bunker.error')]: true, code: 'shutting-down', hint: '' });
    expect(errnoForDeviceError(foreign)).toEqual({ errno: NBD_ESHUTDOWN, expected: true });
  });

  it.each([
    ['a plain Error', new Error('boom')],
    ['a BunkerError with a code outside the set', new BunkerError('log-corrupt', 'bad crc')],
    ['a code inherited from Object.prototype', new BunkerError('toString', 'x')],
    ['a thrown string', 'boom'],
  ])('answers %s with EIO and flags it unexpected', (_case, error) => {
    expect(errnoForDeviceError(error)).toEqual({ errno: NBD_EIO, expected: false });
  });
});
