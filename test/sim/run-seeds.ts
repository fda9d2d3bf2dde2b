// Method: runs a range of seeds through the simulation and reports the failures, each with the
// one-line command that replays it and the trace of the events that led to it.
import type { TestOnlyBugs } from '../../agent/src/replication/index.js';
import { NO_BUGS } from '../../agent/src/replication/index.js';
import { runSimulation, type SimOptions, type SimResult } from './simulation.js';

export type BugName = keyof TestOnlyBugs;

export const BUG_NAMES: readonly BugName[] = ['ackBeforeBunkerDurable', 'bunkerTrimsBelowSecondary', 'acceptStaleEpochAppend', 'skipIncompleteWritesOnTakeover'];

export interface SeedRange {
  readonly firstSeed: number;
  readonly seeds: number;
  readonly bug?: BugName | undefined;
  /** Stop at the first failure (mutation tests), or run them all (CI, the CLI). */
  readonly stopAtFirstFailure?: boolean;
  readonly overrides?: Partial<Omit<SimOptions, 'seed' | 'bugs'>>;
}

export interface RangeReport {
  readonly seedsRun: number;
  readonly failures: readonly SimResult[];
  readonly elapsedMs: number;
  readonly acknowledged: number;
  readonly takeovers: number;
  readonly failbacks: number;
  readonly crashes: number;
  readonly steps: number;
}

export function runSeeds(range: SeedRange): RangeReport {
  const bugs: TestOnlyBugs = range.bug === undefined ? NO_BUGS : { ...NO_BUGS, [range.bug]: true };
  const started = performance.now();
  const failures: SimResult[] = [];
  let seedsRun = 0;
  const totals = { acknowledged: 0, takeovers: 0, failbacks: 0, crashes: 0, steps: 0 };
  for (let seed = range.firstSeed; seed < range.firstSeed + range.seeds; seed += 1) {
    const result = runSimulation(seed, { ...range.overrides, bugs });
    seedsRun += 1;
    totals.acknowledged += result.stats.acknowledged;
    totals.takeovers += result.stats.takeovers;
    totals.failbacks += result.stats.failbacks;
    totals.crashes += result.stats.crashes;
    totals.steps += result.stats.steps;
    if (result.violation !== null) {
      failures.push(result);
      if (range.stopAtFirstFailure === true) break;
    }
  }
  return { seedsRun, failures, elapsedMs: performance.now() - started, ...totals };
}

export function replayCommand(seed: number, bug?: BugName): string {
  return `npm run sim -- --seed ${seed}${bug === undefined ? '' : ` --bug ${bug}`}`;
}

export function formatFailure(result: SimResult, bug?: BugName): string {
  const violation = result.violation;
  if (violation === null) return `seed ${result.seed}: no violation`;
  return [
    `seed ${result.seed} violates ${violation.checker} at step ${violation.step}: ${violation.message}`,
    `  replay: ${replayCommand(result.seed, bug)}`,
    `  last ${result.trace.length} events:`,
    ...result.trace.map((line) => `    ${line}`),
  ].join('\n');
}

export function formatSummary(report: RangeReport, range: SeedRange): string {
  const perSecond = report.seedsRun / Math.max(report.elapsedMs / 1000, 1e-9);
  return (
    `${report.seedsRun} seeds from ${range.firstSeed}${range.bug === undefined ? '' : ` with bug ${range.bug}`}: ` +
    `${report.failures.length} failing, ${perSecond.toFixed(0)} seeds/s, ${report.steps} steps, ` +
    `${report.acknowledged} writes acknowledged, ${report.crashes} crashes, ${report.takeovers} takeovers, ${report.failbacks} failbacks`
  );
}
