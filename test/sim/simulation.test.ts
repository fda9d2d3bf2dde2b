// Method: the simulation without any bug must find nothing on a fixed range of seeds, must
// replay a seed exactly, and must actually exercise what it claims to (writes acknowledged,
// crashes, takeovers, failbacks), or its silence would prove nothing.
import { formatFailure, formatSummary, runSeeds } from './run-seeds.js';
import { runSimulation } from './simulation.js';

describe('simulation', () => {
  it('finds no violation on seeds 1..200', () => {
    const range = { firstSeed: 1, seeds: 200 };
    const report = runSeeds(range);
    process.stdout.write(`${formatSummary(report, range)}\n`);
    expect(report.failures.map((f) => formatFailure(f))).toEqual([]);
  });

  it('exercises the faults and the takeover path it is meant to check', () => {
    const report = runSeeds({ firstSeed: 1000, seeds: 100 });
    expect(report.acknowledged).toBeGreaterThan(100 * 10);
    expect(report.crashes).toBeGreaterThan(100);
    expect(report.takeovers).toBeGreaterThan(50);
    expect(report.failbacks).toBeGreaterThan(50);
  });

  it('replays a seed exactly', () => {
    const a = runSimulation(4242, { traceLength: 500 });
    const b = runSimulation(4242, { traceLength: 500 });
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
  });

  it('prints a failure with its replay command and trace', () => {
    const text = formatFailure({ seed: 7, violation: { checker: 'prefix', message: 'x', step: 3 }, trace: ['t1 #2 something'], stats: runSimulation(1, { steps: 1 }).stats });
    expect(text).toContain('replay: npm run sim -- --seed 7');
    expect(text).toContain('    t1 #2 something');
  });
});
