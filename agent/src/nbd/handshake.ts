// The fixed-newstyle handshake as pure functions: bytes in, typed values or typed errors out,
// and a decision (`answerOption`) that turns one parsed option into the exact reply bytes and
// what the connection does next. No I/O, no clock: negotiation.ts drives these over a socket,
// and the tests (including property tests over random bytes) call them directly.
//
// Every parser checks lengths before it reads, never throws on client input, and reports a
// malformed message as a value the caller must handle.
import {
  CLIENT_FLAGS_BYTES,
  EXPORT_NAME_PADDING_BYTES,
  GREETING_BYTES,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_MAGIC,
  NBD_OPTION_MAGIC,
  NBD_OPTION_REPLY_MAGIC,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_REP_ACK,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_SHUTDOWN,
  NBD_REP_ERR_TOO_BIG,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_SERVER,
  OPTION_HEADER_BYTES,
  OPTION_REPLY_HEADER_BYTES,
  STRING_BYTES_MAX,
  type NbdOptionErrorReply,
} from './protocol-constants.js';

/**
 * Longest option payload this server reads into memory. The largest legitimate one is
 * NBD_OPT_GO: 4 + a 4096-byte name + 2 + two bytes per information request.
 */
export const OPTION_DATA_BYTES_MAX = 16 * 1024;

export interface ClientFlags {
  readonly fixedNewstyle: boolean;
  /** The client asked to skip the 124 zero bytes after an NBD_OPT_EXPORT_NAME reply. */
  readonly noZeroes: boolean;
}

/** What the client may know about one export; the server builds it from a BlockDevice. */
export interface ExportView {
  readonly name: string;
  /** Shown by NBD_OPT_LIST and NBD_INFO_DESCRIPTION; empty means none. */
  readonly description: string;
  readonly sizeBytes: number;
  readonly transmissionFlags: number;
  readonly minimumBlockBytes: number;
  readonly preferredBlockBytes: number;
  readonly maximumPayloadBytes: number;
}

export type HandshakeErrorReason = 'short-input' | 'unknown-client-flags' | 'bad-option-magic';

export type Parsed<T> = { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'error'; readonly reason: HandshakeErrorReason };

export interface OptionHeader {
  readonly option: number;
  readonly dataBytes: number;
}

export type OptionRequest =
  | { readonly kind: 'export-name'; readonly name: string }
  | { readonly kind: 'info' | 'go'; readonly option: number; readonly name: string; readonly infoTypes: readonly number[] }
  | { readonly kind: 'list' }
  | { readonly kind: 'abort' }
  | { readonly kind: 'unsupported'; readonly option: number }
  | { readonly kind: 'invalid'; readonly option: number; readonly message: string }
  /** The option's data was longer than OPTION_DATA_BYTES_MAX and was discarded unread. */
  | { readonly kind: 'too-big'; readonly option: number };

export interface NegotiationContext<E extends ExportView> {
  readonly clientFlags: ClientFlags;
  /** The server is closing: refuse everything but NBD_OPT_ABORT. */
  readonly shuttingDown: boolean;
  lookup(name: string): E | undefined;
  list(): readonly E[];
}

export type OptionOutcome<E> =
  | { readonly kind: 'continue' }
  | { readonly kind: 'transmit'; readonly export: E }
  | { readonly kind: 'close'; readonly reason: 'client-aborted' | 'unknown-export' | 'shutting-down' | 'invalid-export-name' };

export interface OptionAnswer<E> {
  /** Bytes to send, in order, before acting on `outcome`. */
  readonly replies: readonly Uint8Array[];
  readonly outcome: OptionOutcome<E>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

export function encodeGreeting(): Uint8Array {
  const bytes = new Uint8Array(GREETING_BYTES);
  const view = dataView(bytes);
  view.setBigUint64(0, NBD_MAGIC);
  view.setBigUint64(8, NBD_OPTION_MAGIC);
  view.setUint16(16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
  return bytes;
}

export function parseClientFlags(bytes: Uint8Array): Parsed<ClientFlags> {
  if (bytes.length < CLIENT_FLAGS_BYTES) return { kind: 'error', reason: 'short-input' };
  const flags = dataView(bytes).getUint32(0);
  // The spec: the server MUST drop the connection on a flag it does not know.
  if ((flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) !== 0) {
    return { kind: 'error', reason: 'unknown-client-flags' };
  }
  return {
    kind: 'ok',
    value: { fixedNewstyle: (flags & NBD_FLAG_C_FIXED_NEWSTYLE) !== 0, noZeroes: (flags & NBD_FLAG_C_NO_ZEROES) !== 0 },
  };
}

export function parseOptionHeader(bytes: Uint8Array): Parsed<OptionHeader> {
  if (bytes.length < OPTION_HEADER_BYTES) return { kind: 'error', reason: 'short-input' };
  const view = dataView(bytes);
  if (view.getBigUint64(0) !== NBD_OPTION_MAGIC) return { kind: 'error', reason: 'bad-option-magic' };
  return { kind: 'ok', value: { option: view.getUint32(8), dataBytes: view.getUint32(12) } };
}

/** Parses an option whose data (at most OPTION_DATA_BYTES_MAX bytes) has been read in full. */
export function parseOption(option: number, data: Uint8Array): OptionRequest {
  switch (option) {
    case NBD_OPT_EXPORT_NAME: {
      const name = decodeString(data);
      return name === undefined ? { kind: 'invalid', option, message: 'export name is not a valid string' } : { kind: 'export-name', name };
    }
    case NBD_OPT_INFO:
    case NBD_OPT_GO:
      return parseInfoRequest(option, data);
    case NBD_OPT_LIST:
      // The spec: a LIST with data SHOULD be rejected as invalid.
      return data.length === 0 ? { kind: 'list' } : { kind: 'invalid', option, message: 'NBD_OPT_LIST carries no data' };
    case NBD_OPT_ABORT:
      // The spec: data sent with ABORT SHOULD be ignored.
      return { kind: 'abort' };
    default:
      // STARTTLS, STRUCTURED_REPLY, the metadata contexts, extended headers and anything newer.
      return { kind: 'unsupported', option };
  }
}

function parseInfoRequest(option: number, data: Uint8Array): OptionRequest {
  const invalid = (message: string): OptionRequest => ({ kind: 'invalid', option, message });
  if (data.length < 6) return invalid('option data shorter than 6 bytes');
  const view = dataView(data);
  const nameBytes = view.getUint32(0);
  if (nameBytes > data.length - 6) return invalid('export name length runs past the option data');
  const name = decodeString(data.subarray(4, 4 + nameBytes));
  if (name === undefined) return invalid('export name is not a valid string');
  const count = view.getUint16(4 + nameBytes);
  const listStart = 6 + nameBytes;
  if (data.length !== listStart + 2 * count) return invalid('information request count does not match the option length');
  const infoTypes: number[] = [];
  for (let index = 0; index < count; index += 1) infoTypes.push(view.getUint16(listStart + 2 * index));
  return { kind: option === NBD_OPT_GO ? 'go' : 'info', option, name, infoTypes };
}

/** Decides the reply to one option. Pure: the same request and context give the same bytes. */
export function answerOption<E extends ExportView>(request: OptionRequest, context: NegotiationContext<E>): OptionAnswer<E> {
  if (request.kind === 'abort') {
    return { replies: [encodeOptionReply(NBD_OPT_ABORT, NBD_REP_ACK)], outcome: { kind: 'close', reason: 'client-aborted' } };
  }
  if (request.kind === 'export-name') return answerExportName(request.name, context);
  const option = request.kind === 'list' ? NBD_OPT_LIST : request.option;
  // NBD_OPT_EXPORT_NAME has no error reply: a malformed one ends the session.
  if (option === NBD_OPT_EXPORT_NAME) return { replies: [], outcome: { kind: 'close', reason: 'invalid-export-name' } };
  if (context.shuttingDown) return refuse(option, NBD_REP_ERR_SHUTDOWN, 'the server is shutting down');
  switch (request.kind) {
    case 'list':
      return {
        replies: [...context.list().map((entry) => encodeServerReply(entry)), encodeOptionReply(NBD_OPT_LIST, NBD_REP_ACK)],
        outcome: { kind: 'continue' },
      };
    case 'info':
    case 'go':
      return answerInfo(request, context);
    case 'unsupported':
      return refuse(request.option, NBD_REP_ERR_UNSUP, `option ${request.option} is not supported`);
    case 'invalid':
      return refuse(request.option, NBD_REP_ERR_INVALID, request.message);
    case 'too-big':
      return refuse(request.option, NBD_REP_ERR_TOO_BIG, `option data over ${OPTION_DATA_BYTES_MAX} bytes`);
  }
}

function answerExportName<E extends ExportView>(name: string, context: NegotiationContext<E>): OptionAnswer<E> {
  // NBD_OPT_EXPORT_NAME cannot be answered with an error: the spec says terminate the session.
  if (context.shuttingDown) return { replies: [], outcome: { kind: 'close', reason: 'shutting-down' } };
  const entry = context.lookup(name);
  if (entry === undefined) return { replies: [], outcome: { kind: 'close', reason: 'unknown-export' } };
  const bytes = new Uint8Array(10 + (context.clientFlags.noZeroes ? 0 : EXPORT_NAME_PADDING_BYTES));
  const view = dataView(bytes);
  view.setBigUint64(0, BigInt(entry.sizeBytes));
  view.setUint16(8, entry.transmissionFlags);
  return { replies: [bytes], outcome: { kind: 'transmit', export: entry } };
}

function answerInfo<E extends ExportView>(
  request: { readonly kind: 'info' | 'go'; readonly option: number; readonly name: string; readonly infoTypes: readonly number[] },
  context: NegotiationContext<E>,
): OptionAnswer<E> {
  const entry = context.lookup(request.name);
  if (entry === undefined) return refuse(request.option, NBD_REP_ERR_UNKNOWN, `no export named '${request.name}'`);
  const replies: Uint8Array[] = [encodeInfo(request.option, NBD_INFO_EXPORT, exportInfo(entry))];
  if (request.infoTypes.includes(NBD_INFO_NAME)) {
    replies.push(encodeInfo(request.option, NBD_INFO_NAME, utf8Encoder.encode(entry.name)));
  }
  if (request.infoTypes.includes(NBD_INFO_DESCRIPTION) && entry.description !== '') {
    replies.push(encodeInfo(request.option, NBD_INFO_DESCRIPTION, utf8Encoder.encode(entry.description)));
  }
  // Sent whether or not it was asked for (the spec allows unrequested information): clients
  // that understand it learn our limits; the others ignore it, and requests outside the limits
  // get EINVAL rather than a refused connection, for the widest interoperability.
  replies.push(encodeInfo(request.option, NBD_INFO_BLOCK_SIZE, blockSizeInfo(entry)));
  replies.push(encodeOptionReply(request.option, NBD_REP_ACK));
  return { replies, outcome: request.kind === 'go' ? { kind: 'transmit', export: entry } : { kind: 'continue' } };
}

function refuse<E>(option: number, reply: NbdOptionErrorReply, message: string): OptionAnswer<E> {
  return { replies: [encodeOptionReply(option, reply, utf8Encoder.encode(message))], outcome: { kind: 'continue' } };
}

export function encodeOptionReply(option: number, replyType: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const bytes = new Uint8Array(OPTION_REPLY_HEADER_BYTES + data.length);
  const view = dataView(bytes);
  view.setBigUint64(0, NBD_OPTION_REPLY_MAGIC);
  view.setUint32(8, option);
  view.setUint32(12, replyType);
  view.setUint32(16, data.length);
  bytes.set(data, OPTION_REPLY_HEADER_BYTES);
  return bytes;
}

function encodeInfo(option: number, infoType: number, payload: Uint8Array): Uint8Array {
  const data = new Uint8Array(2 + payload.length);
  dataView(data).setUint16(0, infoType);
  data.set(payload, 2);
  return encodeOptionReply(option, NBD_REP_INFO, data);
}

function exportInfo(entry: ExportView): Uint8Array {
  const bytes = new Uint8Array(10);
  const view = dataView(bytes);
  view.setBigUint64(0, BigInt(entry.sizeBytes));
  view.setUint16(8, entry.transmissionFlags);
  return bytes;
}

function blockSizeInfo(entry: ExportView): Uint8Array {
  const bytes = new Uint8Array(12);
  const view = dataView(bytes);
  view.setUint32(0, entry.minimumBlockBytes);
  view.setUint32(4, entry.preferredBlockBytes);
  view.setUint32(8, entry.maximumPayloadBytes);
  return bytes;
}

function encodeServerReply(entry: ExportView): Uint8Array {
  const name = utf8Encoder.encode(entry.name);
  const description = utf8Encoder.encode(entry.description);
  const data = new Uint8Array(4 + name.length + description.length);
  dataView(data).setUint32(0, name.length);
  data.set(name, 4);
  data.set(description, 4 + name.length);
  return encodeOptionReply(NBD_OPT_LIST, NBD_REP_SERVER, data);
}

/** A protocol string: valid UTF-8, no NUL, at most 4096 bytes. */
export function decodeString(bytes: Uint8Array): string | undefined {
  if (bytes.length > STRING_BYTES_MAX || bytes.includes(0)) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    // Not UTF-8: the caller answers with its protocol's "invalid" reply.
    return undefined;
  }
}

/** True if `name` can be sent as a protocol string (the server validates export names with it). */
export function isProtocolString(name: string): boolean {
  return decodeString(utf8Encoder.encode(name)) === name;
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
