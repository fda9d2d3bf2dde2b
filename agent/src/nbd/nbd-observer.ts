// Hooks through which the agent watches the NBD server (prom-client counters and histograms,
// logs) without this folder depending on either. Called synchronously on the connection's path:
// implementations must be cheap and must not throw.
import type { NbdErrno } from './protocol-constants.js';
import type { NbdRequestKind } from './request-parser.js';

export type ProtocolErrorReason =
  | 'unknown-client-flags'
  | 'bad-option-magic'
  | 'handshake-timeout'
  | 'unknown-export'
  | 'invalid-export-name'
  | 'bad-request-magic'
  | 'payload-too-large'
  | 'truncated-message';

export interface NbdObserver {
  /**
   * One request answered (or refused). `bytes` is the payload moved (read or written; for trim
   * and write-zeroes the length affected); `latencyNs` runs from the request being fully received
   * to its reply being handed to the socket; `errno` is 0 on success.
   */
  onRequest(kind: NbdRequestKind, bytes: number, latencyNs: number, errno: NbdErrno, exportName: string): void;
  /** A TCP connection was accepted or has closed. */
  onConnection(event: 'open' | 'close'): void;
  /** A connection was refused because connectionsMax were open (a limit pushed back). */
  onConnectionRefused?(remoteAddress: string): void;
  /** A client broke the protocol and was disconnected. */
  onProtocolError?(reason: ProtocolErrorReason, remoteAddress: string): void;
  /** A device failed with something outside its closed set of error codes (answered with EIO). */
  onUnexpectedDeviceError?(error: unknown, exportName: string): void;
}
