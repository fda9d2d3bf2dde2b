// How long each fuzz property runs. In CI (no environment set) every property runs a fixed,
// small number of cases, so the whole fuzz project stays under a minute on two CPUs. For a
// longer hunt, scripts/fuzz.ts (`npm run fuzz -- --minutes N`) sets:
//   BUNKER_FUZZ_RUNS     cases per property (overrides the CI count; 0 means unlimited),
//   BUNKER_FUZZ_SECONDS  wall-clock budget per property, after which it stops and passes.
// fast-check picks a fresh seed per run and prints `seed` and `path` on a failure; replay one
// with BUNKER_FUZZ_SEED and BUNKER_FUZZ_PATH (then copy the input into test/fuzz/regressions/).
import fc from 'fast-check';

export interface FuzzBudget {
  /** Parameters for fc.assert. */
  readonly parameters: fc.Parameters<unknown>;
  /** A jest timeout that leaves room for the property's budget and its shrinking. */
  readonly timeoutMs: number;
}

const SHRINK_MARGIN_MS = 30_000;
const UNBOUNDED_TIMEOUT_MS = 24 * 60 * 60 * 1000;

function envNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return value;
}

/** The budget of one property whose CI run is `ciRuns` cases. */
export function fuzzBudget(ciRuns: number): FuzzBudget {
  const runs = envNumber('BUNKER_FUZZ_RUNS');
  const seconds = envNumber('BUNKER_FUZZ_SECONDS');
  const seed = envNumber('BUNKER_FUZZ_SEED');
  const path = process.env['BUNKER_FUZZ_PATH'];
  const numRuns = runs === undefined ? (seconds === undefined ? ciRuns : Number.MAX_SAFE_INTEGER) : runs === 0 ? Number.MAX_SAFE_INTEGER : runs;
  const timeLimitMs = seconds === undefined ? undefined : Math.max(1, Math.round(seconds * 1000));
  const parameters: fc.Parameters<unknown> = {
    numRuns,
    ...(timeLimitMs === undefined ? {} : { plugins: [fc.interruptAfterTimeLimit(timeLimitMs)] }),
    ...(seed === undefined ? {} : { seed }),
    ...(path === undefined || path === '' ? {} : { path }),
  };
  // A run count asked for without a time limit gets the time it needs.
  const timeoutMs = timeLimitMs !== undefined ? timeLimitMs + SHRINK_MARGIN_MS : runs !== undefined ? UNBOUNDED_TIMEOUT_MS : SHRINK_MARGIN_MS;
  return { parameters, timeoutMs };
}
