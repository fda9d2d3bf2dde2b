// Real-process crash test: a child process (test/fixtures/log/crash-child.ts) appends to a
// change log in a real file with group commit and fdatasync, printing each sequence once
// its append resolved; the parent SIGKILLs it at a random moment (sometimes during its
// open and recovery), reopens the log, and checks that every sequence the child reported
// is present and intact, that nothing but intact, well-ordered entries comes back, and
// that trims never released the newest CHILD_KEEP_ENTRIES sequences (the child trims
// below `durable - CHILD_KEEP_ENTRIES`, so only older ones may be missing). Repeated at least 50 times, in
// two lanes (two log files) at once to stay within the time budget; the next child opens
// the log the previous one left, in a new epoch.
//
// The child runs under plain node with tsx as its TypeScript loader (a dev dependency),
// so the test needs no build. Kill delays come from a seeded random source (printed on
// failure); the moments they hit depend on the machine, which is the point.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seq } from '@bunker/proto/ids';
import { ChangeLog } from '../../../agent/src/log/change-log.js';
import type { Entry } from '../../../agent/src/log/entry.js';
import { FileStorage } from '../../../agent/src/log/file-storage.js';
import { follows } from '../../../agent/src/log/scan.js';
import { randomInt, seededRandom, type Random } from '../../../agent/src/log/seeded-random.js';
import { isIntact, TEST_VOLUME_UID } from '../../../agent/src/log/testing/log-fixtures.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CHILD = fileURLToPath(new URL('../../fixtures/log/crash-child.ts', import.meta.url));
const KILLS_PER_LANE = 26;
const LANES = 2;
const SEED = Number(process.env.BUNKER_CRASH_SEED ?? Date.now() % 1_000_000);
/** The child keeps this many sequences below its newest durable one when it trims. */
const CHILD_KEEP_ENTRIES = 300;
const OPEN_OPTIONS = { volumeUid: TEST_VOLUME_UID, fillPolicy: { kind: 'fail' }, entryBytesMax: 8192 } as const;

interface ChildRun {
  readonly durable: number[];
  readonly killedWhileAppending: boolean;
}

/** Runs one child and kills it: after `delayMs` from its "ready" line, or from its start. */
function runChild(path: string, mode: 'create' | 'open', epochValue: number, delayMs: number, beforeReady: boolean): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, mode, String(epochValue)], {
      cwd: ROOT, env: { ...process.env, TSX_TSCONFIG_PATH: join(ROOT, 'test/tsconfig.json') }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const durable: number[] = [];
    let pending = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = (): void => { child.kill('SIGKILL'); };
    if (beforeReady) timer = setTimeout(kill, delayMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const [word, value] = line.split(' ');
        if (word === 'durable') durable.push(Number(value));
        if (word === 'ready' && !beforeReady) timer = setTimeout(kill, delayMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    // 'close', not 'exit': only then has every line the child wrote before dying been read.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code ?? signal}: ${stderr}`));
      else resolve({ durable, killedWhileAppending: durable.length > 0 });
    });
  });
}

/** Reopens the log and checks it against everything children reported. */
async function verify(path: string, reported: ReadonlySet<number>): Promise<void> {
  const log = await ChangeLog.open(await FileStorage.open(path), OPEN_OPTIONS);
  try {
    const entries: Entry[] = [];
    for await (const block of log.readFrom(seq(log.firstSeq - 1), { bytesMax: 1 << 20, entriesMax: 1000 })) entries.push(...block);
    // One assertion for all entries: thousands of expect calls would slow the parent, and
    // with it the moments its kills land.
    const bad = entries.filter((entry, index) => {
      const prev = entries[index - 1];
      return !isIntact(entry) || (prev !== undefined && !follows({ ...prev, session: 0 }, { ...entry, session: 0 }));
    });
    expect(bad.map((entry) => entry.seq)).toEqual([]);
    expect(entries.at(-1)?.seq ?? log.durableSeq).toBe(log.durableSeq);
    // Trims released only what the child's rule allows.
    expect(log.firstSeq).toBeLessThanOrEqual(Math.max(1, log.durableSeq - CHILD_KEEP_ENTRIES + 1));
    const present = new Set<number>(entries.map((entry) => entry.seq));
    const missing = [...reported].filter((durableSeq) => durableSeq > log.durableSeq || (durableSeq >= log.firstSeq && !present.has(durableSeq)));
    expect(missing).toEqual([]);
  } finally {
    await log.close();
  }
}

async function lane(directory: string, laneIndex: number, random: Random): Promise<{ kills: number; whileAppending: number; reported: number }> {
  const path = join(directory, `lane-${laneIndex}.log`);
  const reported = new Set<number>();
  let whileAppending = 0;
  for (let kill = 0; kill < KILLS_PER_LANE; kill += 1) {
    const beforeReady = kill > 0 && randomInt(random, 8) === 0;
    const delayMs = beforeReady ? 300 + randomInt(random, 300) : randomInt(random, 150);
    const run = await runChild(path, kill === 0 ? 'create' : 'open', kill + 1, delayMs, beforeReady);
    run.durable.forEach((durableSeq) => reported.add(durableSeq));
    if (run.killedWhileAppending) whileAppending += 1;
    await verify(path, reported);
  }
  return { kills: KILLS_PER_LANE, whileAppending, reported: reported.size };
}

describe('ChangeLog under SIGKILL (real process, real file)', () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'bunker-log-crash-'));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it(`keeps every sequence a killed child reported durable (seed ${SEED})`, async () => {
    const results = await Promise.all(Array.from({ length: LANES }, (_, index) => lane(directory, index, seededRandom(SEED + index))));
    const kills = results.reduce((sum, result) => sum + result.kills, 0);
    const whileAppending = results.reduce((sum, result) => sum + result.whileAppending, 0);
    expect(kills).toBeGreaterThanOrEqual(50);
    // Half the kills at least must land while appends were in flight (the rest hit opens
    // and recoveries), or the test proves little.
    expect(whileAppending).toBeGreaterThanOrEqual(26);
    expect(results.every((result) => result.reported > 200)).toBe(true);
  }, 90_000);
});
