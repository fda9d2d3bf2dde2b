// Public surface of the NBD server for the rest of the agent.
export type { BlockDevice, BlockDeviceError, BlockDeviceErrorCode, WriteOptions, WriteZeroesOptions } from './block-device.js';
export { assertInDevice, blockDeviceError } from './block-device.js';
export { DEVICE_ERRNO, errnoForDeviceError } from './errno-mapping.js';
export { FileBlockDevice, type FileBlockDeviceOptions } from './file-block-device.js';
export type { ExportOptions, NbdServerErrorCode } from './nbd-export.js';
export type { NbdObserver, ProtocolErrorReason } from './nbd-observer.js';
export { NbdServer, type NbdServerOptions, type StopOptions } from './nbd-server.js';
export type { NbdErrno } from './protocol-constants.js';
export type { NbdRequestKind } from './request-parser.js';
