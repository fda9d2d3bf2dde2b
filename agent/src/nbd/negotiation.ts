// Drives the pure handshake (handshake.ts) over a socket: greeting, client flags, then options
// until the client picks an export, aborts, or breaks the protocol. The caller bounds the whole
// exchange in time (a client that stalls is destroyed, which ends the reads here) and memory
// (no option is read into memory beyond OPTION_DATA_BYTES_MAX; bigger ones are discarded).
import {
  OPTION_DATA_BYTES_MAX,
  answerOption,
  encodeGreeting,
  parseClientFlags,
  parseOption,
  parseOptionHeader,
  type ClientFlags,
  type ExportView,
  type OptionRequest,
} from './handshake.js';
import type { ProtocolErrorReason } from './nbd-observer.js';
import { CLIENT_FLAGS_BYTES, OPTION_HEADER_BYTES } from './protocol-constants.js';
import type { SocketReader } from './socket-reader.js';

export interface ExportCatalog<E extends ExportView> {
  lookup(name: string): E | undefined;
  list(): readonly E[];
  isShuttingDown(): boolean;
}

export type NegotiationResult<E> =
  | { readonly kind: 'transmit'; readonly export: E; readonly clientFlags: ClientFlags }
  /** The session ended without a protocol violation (abort, refused export, client left). */
  | { readonly kind: 'ended'; readonly reason: 'client-aborted' | 'client-left' | 'shutting-down' }
  | { readonly kind: 'protocol-error'; readonly reason: ProtocolErrorReason };

export async function negotiate<E extends ExportView>(
  reader: SocketReader,
  send: (bytes: Uint8Array) => void,
  catalog: ExportCatalog<E>,
): Promise<NegotiationResult<E>> {
  send(encodeGreeting());
  const flagBytes = await reader.read(CLIENT_FLAGS_BYTES);
  if (flagBytes.kind === 'end') return endedBy(flagBytes.receivedBytes);
  const flags = parseClientFlags(flagBytes.bytes);
  if (flags.kind === 'error') return { kind: 'protocol-error', reason: 'unknown-client-flags' };
  for (;;) {
    const request = await readOption(reader);
    if (request.kind === 'end') return endedBy(request.receivedBytes);
    if (request.kind === 'bad-option-magic') return { kind: 'protocol-error', reason: 'bad-option-magic' };
    const answer = answerOption(request.request, {
      clientFlags: flags.value,
      shuttingDown: catalog.isShuttingDown(),
      lookup: (name) => catalog.lookup(name),
      list: () => catalog.list(),
    });
    for (const reply of answer.replies) send(reply);
    switch (answer.outcome.kind) {
      case 'continue':
        continue;
      case 'transmit':
        return { kind: 'transmit', export: answer.outcome.export, clientFlags: flags.value };
      case 'close':
        return closedBy(answer.outcome.reason);
    }
  }
}

type OptionRead =
  | { readonly kind: 'option'; readonly request: OptionRequest }
  | { readonly kind: 'bad-option-magic' }
  | { readonly kind: 'end'; readonly receivedBytes: number };

async function readOption(reader: SocketReader): Promise<OptionRead> {
  const headerBytes = await reader.read(OPTION_HEADER_BYTES);
  if (headerBytes.kind === 'end') return headerBytes;
  const header = parseOptionHeader(headerBytes.bytes);
  if (header.kind === 'error') return { kind: 'bad-option-magic' };
  const { option, dataBytes } = header.value;
  if (dataBytes > OPTION_DATA_BYTES_MAX) {
    // Discarded as it arrives, never buffered; the handshake deadline bounds how long it may take.
    const skipped = await reader.skip(dataBytes);
    return skipped ? { kind: 'option', request: { kind: 'too-big', option } } : { kind: 'end', receivedBytes: 1 };
  }
  const data = await reader.read(dataBytes);
  if (data.kind === 'end') return { kind: 'end', receivedBytes: OPTION_HEADER_BYTES + data.receivedBytes };
  return { kind: 'option', request: parseOption(option, data.bytes) };
}

/** A client may leave between messages; leaving in the middle of one breaks the protocol. */
function endedBy(receivedBytes: number): NegotiationResult<never> {
  return receivedBytes === 0 ? { kind: 'ended', reason: 'client-left' } : { kind: 'protocol-error', reason: 'truncated-message' };
}

function closedBy(reason: 'client-aborted' | 'unknown-export' | 'shutting-down' | 'invalid-export-name'): NegotiationResult<never> {
  switch (reason) {
    case 'client-aborted':
    case 'shutting-down':
      return { kind: 'ended', reason };
    case 'unknown-export':
    case 'invalid-export-name':
      return { kind: 'protocol-error', reason };
  }
}
