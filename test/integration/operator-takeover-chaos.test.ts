// Chaos runs of the kill -9 takeover under the real operator (issue 8): the takeover of
// operator-takeover.test.ts repeated with different timings. Ten runs share one operator and
// four agents (test/support/chaos-run.ts): each run a fresh volume, writes for a seeded random
// 0.5–3 s, kill -9 of the primary, its Node marked NotReady, the operator's takeover. Each run
// prints its lost-write count (must be 0) and its takeover time (kill to the new primary serving
// NBD). The seed is printed; BUNKER_CHAOS_SEED replays one. Longer runs: npm run chaos -- --runs N.
// Nodes ch-a..ch-d, namespace operator-takeover-chaos, subnet 65.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  chaosRun, describeRun, killDelays, startChaosEnvironment, stopChaosEnvironment, summarize, type ChaosEnvironment, type ChaosRunResult,
} from '../support/chaos-run.js';
import { testCluster } from '../support/cluster.js';
import { buildWorkspace } from '../support/operator-process.js';

const RUNS = 10;
const seed = Number(process.env['BUNKER_CHAOS_SEED'] ?? Date.now() % 1_000_000_007);
const delays = killDelays(seed, RUNS);

let baseDir: string | undefined;
let env: ChaosEnvironment | undefined;
const results: ChaosRunResult[] = [];
const started = Date.now();

beforeAll(async () => {
  process.stdout.write(`chaos seed ${seed} (replay with BUNKER_CHAOS_SEED=${seed}); kill delays ${delays.join(', ')} ms\n`);
  await buildWorkspace();
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-operator-takeover-chaos-'));
  env = await startChaosEnvironment({
    kubeconfigPath: testCluster().kubeconfigPath, baseDir, namespace: 'operator-takeover-chaos', operatorNamespace: 'bunker-takeover-chaos-system',
    nodes: ['ch-a', 'ch-b', 'ch-c', 'ch-d'], subnet: 65, gracePeriodSeconds: 1,
  });
}, 360_000);

afterAll(async () => {
  process.stdout.write(`${summarize(results)}; seed ${seed}; ${Date.now() - started} ms in all\n`);
  await stopChaosEnvironment(env);
  if (baseDir !== undefined) await rm(baseDir, { recursive: true, force: true });
}, 120_000);

describe('kill -9 takeover, repeated with seeded timings', () => {
  for (const [run, writeMs] of delays.entries()) {
    it(`run ${run}: kill after ${writeMs} ms of writes loses no acknowledged write`, async () => {
      if (env === undefined) throw new Error('no chaos environment');
      const result = await chaosRun(env, run, writeMs, `chaos-${seed}`);
      results.push(result);
      process.stdout.write(`${describeRun(result)}\n`);
      expect(result.blocksChecked).toBeGreaterThan(0);
      expect(result.lostDetail).toEqual([]);
      expect(result.lost).toBe(0);
      expect(result.status).toMatchObject({ currentPrimary: result.target, epoch: 2 });
      expect(result.lastTakeover).toMatchObject({ fromNode: result.primary, toNode: result.target, fromEpoch: 1, toEpoch: 2, acknowledgedWritesLost: 0 });
    }, 120_000);
  }
});
