// `npm run fuzz` runs the fuzz project (test/fuzz) longer than CI does.
//   --minutes N   spread N minutes of wall-clock time over the properties (default 5);
//   --runs N      cases per property instead (0: until the time budget ends);
//   --seed S --path P   replay one failure as fast-check printed it;
// anything after `--` goes to jest unchanged (e.g. a file name to fuzz one target).
// Properties run one file at a time (--runInBand): each fuzzer gets the whole machine and a
// property's time budget is its own. Exits with jest's status. Run by tsx.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const usage = 'usage: npm run fuzz -- [--minutes N] [--runs N] [--seed S --path P] [-- jest args...]';
const root = fileURLToPath(new URL('..', import.meta.url));
const fuzzDir = join(root, 'test/fuzz');

interface CliOptions {
  minutes: number;
  runs: number | undefined;
  seed: string | undefined;
  path: string | undefined;
  jestArgs: string[];
}

function parse(argv: readonly string[]): CliOptions {
  const options: CliOptions = { minutes: 5, runs: undefined, seed: undefined, path: undefined, jestArgs: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    const take = (pattern: RegExp, what: string): string => {
      if (value === undefined || !pattern.test(value)) throw new Error(`${flag} needs ${what}`);
      i += 1;
      return value;
    };
    switch (flag) {
      case '--minutes': options.minutes = Number(take(/^\d+(\.\d+)?$/, 'a positive number')); break;
      case '--runs': options.runs = Number(take(/^\d+$/, 'a non-negative integer')); break;
      case '--seed': options.seed = take(/^-?\d+$/, 'an integer'); break;
      case '--path': options.path = take(/^[\d:]+$/, 'a fast-check path like 12:0:3'); break;
      case '--': options.jestArgs = argv.slice(i + 1); i = argv.length; break;
      case '--help':
      case '-h':
        process.stdout.write(`${usage}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${flag}\n${usage}`);
    }
  }
  if (!(options.minutes > 0)) throw new Error('--minutes must be positive');
  return options;
}

/** Properties in the fuzz files: each calls fuzzBudget once. */
function countProperties(): number {
  const files = readdirSync(fuzzDir).filter((name) => name.endsWith('.fuzz.test.ts'));
  const count = files.reduce((sum, name) => sum + (readFileSync(join(fuzzDir, name), 'utf8').match(/fuzzBudget\(/g)?.length ?? 0), 0);
  if (count === 0) throw new Error(`no fuzzBudget( calls found in ${fuzzDir}`);
  return count;
}

function main(): number {
  const options = parse(process.argv.slice(2));
  const properties = countProperties();
  const secondsPerProperty = Math.max(1, Math.floor((options.minutes * 60) / properties));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BUNKER_FUZZ_SECONDS: String(secondsPerProperty),
    BUNKER_FUZZ_RUNS: String(options.runs ?? 0),
    ...(options.seed === undefined ? {} : { BUNKER_FUZZ_SEED: options.seed }),
    ...(options.path === undefined ? {} : { BUNKER_FUZZ_PATH: options.path }),
  };
  process.stdout.write(`fuzzing ${properties} properties for ${secondsPerProperty} s each\n`);
  const jest = join(root, 'node_modules/jest/bin/jest.js');
  const result = spawnSync(
    process.execPath,
    ['--experimental-vm-modules', jest, '--selectProjects', 'fuzz', '--runInBand', ...options.jestArgs],
    { cwd: root, env, stdio: 'inherit' },
  );
  if (result.error !== undefined) throw result.error;
  return result.status ?? 1;
}

process.exitCode = main();
