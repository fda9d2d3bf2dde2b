// `npm run sim -- --seeds N --first-seed S` runs N seeds from S; `--seed S` replays one with a
// longer trace; `--bug NAME` switches on a deliberate bug (see mutations.test.ts); `--trace N`
// sets how many events a failure prints. Exits non-zero on any violation. Run by tsx.
import { BUG_NAMES, formatFailure, formatSummary, runSeeds, type BugName } from './run-seeds.js';

const usage = 'usage: npm run sim -- [--seeds N] [--first-seed S] | --seed S  [--bug NAME] [--trace N]';

interface CliOptions {
  seeds: number;
  firstSeed: number;
  trace: number | undefined;
  bug: BugName | undefined;
}

function parse(argv: readonly string[]): CliOptions {
  const options: CliOptions = { seeds: 100, firstSeed: 1, trace: undefined, bug: undefined };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    const number = (): number => {
      if (value === undefined || !/^\d+$/.test(value)) throw new Error(`${flag} needs a non-negative integer`);
      i += 1;
      return Number(value);
    };
    switch (flag) {
      case '--seeds': options.seeds = number(); break;
      case '--first-seed': options.firstSeed = number(); break;
      case '--seed': options.firstSeed = number(); options.seeds = 1; options.trace ??= 200; break;
      case '--trace': options.trace = number(); break;
      case '--bug': {
        const bug = BUG_NAMES.find((b) => b === value);
        if (bug === undefined) throw new Error(`--bug needs one of ${BUG_NAMES.join(', ')}`);
        options.bug = bug;
        i += 1;
        break;
      }
      case '--help':
      case '-h':
        process.stdout.write(`${usage}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${flag}`);
    }
  }
  return options;
}

function main(): number {
  let options: CliOptions;
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    return 2;
  }
  const range = { firstSeed: options.firstSeed, seeds: options.seeds, bug: options.bug, overrides: options.trace === undefined ? {} : { traceLength: options.trace } };
  const report = runSeeds(range);
  const shown = 3;
  for (const failure of report.failures.slice(0, shown)) process.stdout.write(`\n${formatFailure(failure, range.bug)}\n`);
  if (report.failures.length > shown) process.stdout.write(`\n... and ${report.failures.length - shown} more failing seeds\n`);
  process.stdout.write(`\n${formatSummary(report, range)}\n`);
  if (report.failures.length > 0) process.stdout.write(`failing seeds: ${report.failures.map((f) => f.seed).join(' ')}\n`);
  return report.failures.length > 0 ? 1 : 0;
}

process.exitCode = main();
