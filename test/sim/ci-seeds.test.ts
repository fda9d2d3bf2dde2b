// Method: the CI budget run: 2,000 consecutive seeds (a different range from the other sim
// tests) with every fault enabled; any violation fails the build and prints its replay command.
// The measured rate is printed so the budget (well under five minutes on two cores) is watched.
import { formatFailure, formatSummary, runSeeds } from './run-seeds.js';

const SEEDS = 2_000;

describe('simulation, CI budget', () => {
  it(`runs ${SEEDS} seeds without a violation`, () => {
    const range = { firstSeed: 100_001, seeds: SEEDS };
    const report = runSeeds(range);
    process.stdout.write(`${formatSummary(report, range)}\n`);
    expect(report.seedsRun).toBe(SEEDS);
    expect(report.failures.slice(0, 3).map((f) => formatFailure(f))).toEqual([]);
  }, 280_000);
});

describe('simulation, long histories', () => {
  it('runs 50 seeds of 5,000 steps (many takeovers, failbacks and trims in one history) without a violation', () => {
    const range = { firstSeed: 200_001, seeds: 50, overrides: { steps: 5_000 } };
    const report = runSeeds(range);
    process.stdout.write(`${formatSummary(report, range)}\n`);
    expect(report.failures.slice(0, 3).map((f) => formatFailure(f))).toEqual([]);
  }, 280_000);
});
