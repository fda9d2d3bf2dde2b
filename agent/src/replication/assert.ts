// Programmer errors crash: an assertion states an invariant the code itself guarantees, so a
// failure means a bug in the core or in its driver, never a condition to handle. Expected
// outcomes (a stale epoch, a peer that is away) are typed values instead. node:assert is off
// limits here (the core imports nothing from node), hence this small helper.

export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Exhaustiveness check for switches over discriminated unions. */
export function unreachable(value: never, what: string): never {
  throw new AssertionError(`unreachable ${what}: ${JSON.stringify(value)}`);
}
