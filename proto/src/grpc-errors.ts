// Typed errors cross the gRPC edge as a status code plus two metadata keys: the stable
// `bunker-code` and the `bunker-hint`. The server maps a BunkerError to a status only here;
// the client turns the status back into a BunkerError with the same code, so callers branch
// on codes end to end and never on message text.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { BunkerError } from './bunker-error.js';

const CODE_KEY = 'bunker-code';
const HINT_KEY = 'bunker-hint';

/** Stable codes and the gRPC status each maps to. Unknown codes map to INTERNAL. */
const STATUS_BY_CODE: Readonly<Record<string, status>> = {
  StaleEpoch: status.FAILED_PRECONDITION,
  NotPrimary: status.FAILED_PRECONDITION,
  WrongRole: status.FAILED_PRECONDITION,
  UnknownVolume: status.NOT_FOUND,
  InvalidArgument: status.INVALID_ARGUMENT,
  SequenceGap: status.OUT_OF_RANGE,
  Trimmed: status.OUT_OF_RANGE,
  LogFull: status.RESOURCE_EXHAUSTED,
  Busy: status.RESOURCE_EXHAUSTED,
  Unavailable: status.UNAVAILABLE,
  DataFailed: status.DATA_LOSS,
  Corrupt: status.DATA_LOSS,
  Unauthenticated: status.UNAUTHENTICATED,
};

export interface GrpcStatusError {
  code: status;
  details: string;
  metadata: Metadata;
}

/** At the server edge: any thrown value becomes a gRPC status, keeping a BunkerError's code. */
export function toGrpcError(error: unknown): GrpcStatusError {
  const metadata = new Metadata();
  if (BunkerError.is(error)) {
    metadata.set(CODE_KEY, error.code);
    if (error.hint !== '') metadata.set(HINT_KEY, error.hint);
    return { code: STATUS_BY_CODE[error.code] ?? status.INTERNAL, details: error.message, metadata };
  }
  metadata.set(CODE_KEY, 'Internal');
  return { code: status.INTERNAL, details: error instanceof Error ? error.message : String(error), metadata };
}

/** The error a remote call failed with, as a BunkerError; transport failures are `Unavailable`. */
export class RemoteError extends BunkerError {
  constructor(code: string, message: string, hint: string, readonly grpcStatus: status, cause: unknown) {
    super(code, message, { hint, cause });
  }
}

function isServiceError(error: unknown): error is ServiceError {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'number' && (error as { metadata?: unknown }).metadata instanceof Metadata;
}

export function fromGrpcError(error: unknown, what: string): RemoteError {
  if (!isServiceError(error)) {
    return new RemoteError('Unavailable', `${what}: ${error instanceof Error ? error.message : String(error)}`, 'check that the agent is running and reachable', status.UNKNOWN, error);
  }
  const [code] = error.metadata.get(CODE_KEY);
  const [hint] = error.metadata.get(HINT_KEY);
  const transport = error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED || error.code === status.CANCELLED;
  const stable = typeof code === 'string' ? code : transport ? 'Unavailable' : 'Internal';
  return new RemoteError(stable, `${what}: ${error.details || error.message}`, typeof hint === 'string' ? hint : '', error.code, error);
}
