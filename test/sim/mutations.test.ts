// Method: a checker that can never fail is worthless. For each deliberate bug (switched on
// through the core's config, never a global), the simulation must find a violation within a
// bounded number of seeds; the test prints which seed and which checker caught it.
import { BUG_NAMES, formatFailure, replayCommand, runSeeds, type BugName } from './run-seeds.js';

/** Seeds tried per bug before the test gives up; each was caught far earlier when measured. */
const SEEDS_MAX: Record<BugName, number> = {
  ackBeforeBunkerDurable: 50,
  bunkerTrimsBelowSecondary: 100,
  acceptStaleEpochAppend: 400,
  skipIncompleteWritesOnTakeover: 200,
};

describe('mutation tests: the checkers catch each deliberate bug', () => {
  it.each(BUG_NAMES.map((bug) => [bug] as const))('%s', (bug) => {
    const report = runSeeds({ firstSeed: 1, seeds: SEEDS_MAX[bug], bug, stopAtFirstFailure: true });
    const caught = report.failures[0];
    expect(caught).toBeDefined();
    if (caught?.violation == null) return;
    process.stdout.write(`${bug}: caught by ${caught.violation.checker} on seed ${caught.seed} (${report.seedsRun} seeds tried); replay: ${replayCommand(caught.seed, bug)}\n`);
    expect(formatFailure(caught, bug)).toContain(`--bug ${bug}`);
  }, 120_000);
});
