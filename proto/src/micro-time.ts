// Kubernetes MicroTime fields (Lease renewTime, acquireTime) must carry exactly six fractional
// digits; @kubernetes/client-node serializes a Date with three, which the apiserver refuses.
// Writers of such fields send this string in a merge patch instead.
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Milliseconds since the epoch of a MicroTime as the client hands it back: typed as a Date,
 * delivered as a string by @kubernetes/client-node 2.0, so both are accepted.
 */
export function microTimeMs(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
