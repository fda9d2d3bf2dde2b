// Failures of apiserver calls, by HTTP status (never by message text). The client throws
// ApiException with the status as `code`; anything else (a reset connection, DNS) has none.
import { ApiException } from '@kubernetes/client-node';
import { BunkerError } from '@bunker/proto/bunker-error';

export function httpStatus(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

export type ApiErrorCode = 'Conflict' | 'NotFound' | 'Invalid' | 'ApiUnavailable';

/** An apiserver call that failed, with a stable code the reconciler and the metrics branch on. */
export class KubeApiError extends BunkerError<ApiErrorCode> {
  readonly httpStatus: number | undefined;
  constructor(what: string, cause: unknown) {
    const status = httpStatus(cause);
    super(codeOf(status), `${what}: ${status === undefined ? '' : `HTTP ${status}: `}${describeCause(cause)}`, {
      cause,
      hint: status === 409 ? 'another writer changed the object first; the reconcile is retried with what is current' : '',
    });
    this.httpStatus = status;
  }
}

function codeOf(status: number | undefined): ApiErrorCode {
  switch (status) {
    case 409: return 'Conflict';
    case 404: return 'NotFound';
    case 422: return 'Invalid';
    default: return 'ApiUnavailable';
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof ApiException) {
    // The body is a metav1.Status, as text or parsed; its message is what a user needs.
    const body: unknown = typeof cause.body === 'string' ? parseJson(cause.body) ?? cause.body : cause.body;
    if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') return body.message;
    if (typeof body === 'string') return body.slice(0, 500);
  }
  return cause instanceof Error ? cause.message : String(cause);
}

/** Runs an apiserver call, turning its failure into a KubeApiError. */
export async function kubeCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new KubeApiError(what, error);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
