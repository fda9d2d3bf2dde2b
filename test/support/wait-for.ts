// Polls a condition until it holds or a deadline passes; for tests only, where the thing
// under test has no watch of its own to offer.
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
  }
  const detail = lastError instanceof Error ? `: last error ${lastError.message}` : '';
  throw new Error(`timed out waiting for ${what}${detail}`);
}
