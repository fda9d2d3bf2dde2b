// Operating and I/O errors of the change log and the change map. Callers branch on `code`
// (a closed set, stable across releases), never on the message; each code carries a default
// hint saying what an operator or the calling code should do about it.
import { BunkerError } from '@bunker/proto/bunker-error';

export type LogErrorCode =
  /** The log has no room for the append and the fill policy is `block` (after its wait) or `fail`. */
  | 'LogFull'
  /** The log's bytes do not describe a valid log, or lost entries its superblock records as durable. */
  | 'Corrupt'
  /** An append or epoch change carries an epoch older than the log's. */
  | 'StaleEpoch'
  /** An append's sequence does not follow the previous entry's. */
  | 'SequenceGap'
  /** The log (or change map) was created for another volume. */
  | 'WrongVolume'
  /** An entry or an append is larger than the log can ever hold in one batch. */
  | 'TooLarge'
  /** The log was closed. */
  | 'Closed'
  /** The storage failed; the log refuses further appends until it is reopened. */
  | 'Io'
  /** The entries asked for were trimmed already. */
  | 'Trimmed'
  /** Too many appends are already waiting for room. */
  | 'Busy';

const hints: Readonly<Record<LogErrorCode, string>> = {
  LogFull: 'The peer that trims this log is lagging: check its link, or use fill policy trackChanges.',
  Corrupt: 'Do not use this log: move the file aside and rebuild the replica by resynchronization from a peer.',
  StaleEpoch: 'A newer primary exists: stop writing, re-read the volume status and converge to the role it gives.',
  SequenceGap: 'Appends must carry consecutive sequences within an epoch: this is a bug in the caller.',
  WrongVolume: 'The log file belongs to another volume: check the replica\'s volume path, never overwrite it blindly.',
  TooLarge: 'Split the write, or raise entryBytesMax / inflightBytesMax (they must fit in the log).',
  Closed: 'The log was closed: open it again before appending or reading.',
  Io: 'The disk failed under the log: reopen it (recovery trusts only what it finds) and check the device.',
  Trimmed: 'The entries were released already: resynchronize the peer from the change map or a full copy.',
  Busy: 'Too many appends are waiting for room: push back on the writer (lower the queue depth).',
};

export class LogError extends BunkerError<LogErrorCode> {
  constructor(code: LogErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, { hint: options.hint ?? hints[code], cause: options.cause });
  }

  /** True for a LogError with this code, also across duplicate copies of this module. */
  static hasCode(value: unknown, code: LogErrorCode): value is LogError {
    return BunkerError.is(value) && value.code === code;
  }
}

/** Wraps whatever a storage threw into a LogError Io, keeping a LogError as it is. */
export function ioError(what: string, cause: unknown): LogError {
  if (cause instanceof LogError) return cause;
  return new LogError('Io', `${what} failed`, { cause });
}
