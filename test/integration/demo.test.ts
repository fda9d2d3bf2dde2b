// The main job's story (issue 10), run as a user would run it, non-interactively: `npm run demo
// -- --exit` against a control plane of this test's own (BUNKER_DEMO_KUBECONFIG), so that the
// test can read the ReplicatedVolume from the API server after the demo has stopped its
// agents and operator; sites on subnet 71 (the main job uses 70). Checked from the API server
// and the data, not from the printed text alone:
// - the demo's summary (--summary) agrees with status.lastMigration as the API server has it
//   afterwards, and its takeover record with the operator's TakeoverCompleted Event (a
//   migration is carried out as a takeover, so status.lastTakeover then records the migration);
// - the takeover went site-a -> site-c and the migration back site-c -> site-a, no write lost;
// - the resync copied about the true difference of the two data files (measured by the demo);
// - every write the second writer saw acknowledged is in site-a's data file (kept by --data-dir);
// - the output fits 100 columns and ends with "acknowledged writes lost: 0";
// - `--down` afterwards finds nothing left: no network namespace, no state file.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReplicatedVolumeStatus } from '../../operator/src/api/index.js';
import { repoRoot, startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { kubectl } from '../support/kubectl.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';

const SUBNET = 71;

let controlPlane: ControlPlane | undefined;
let dir: string;

interface DemoRun {
  readonly code: number | null;
  readonly output: string;
}

function runDemo(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<DemoRun> {
  return new Promise((resolve) => {
    const child = spawn(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'scripts/local-cluster.ts'), ...args], {
      cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    // SIGTERM first: the demo stops what it started; SIGKILL if it does not within 30 s.
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bunker-demo-test-'));
  controlPlane = await startControlPlane();
}, 120_000);

afterAll(async () => {
  await controlPlane?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('the main job\'s demo', () => {
  it('tells the story with --exit: takeover, verification, resync, migration, no acknowledged write lost', async () => {
    const cp = controlPlane;
    if (cp === undefined) throw new Error('no control plane');
    const summaryPath = join(dir, 'summary.json');
    const dataDir = join(dir, 'data');
    const started = Date.now();
    const run = await runDemo(
      ['--exit', '--summary', summaryPath, '--subnet', String(SUBNET), '--data-dir', dataDir, '--table-seconds', '5'],
      { BUNKER_DEMO_KUBECONFIG: cp.kubeconfigPath, BUNKER_CONTROL_PLANE_BIN: cp.binDir },
      200_000,
    );
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(`demo finished in ${seconds.toFixed(0)} s with code ${run.code}; its output:\n${run.output}\n`);
    expect(run.code).toBe(0);

    // Printed: fits 100 columns, tells each step, ends with the computed line.
    const lines = run.output.split('\n').filter((l) => !l.startsWith('npm warn'));
    expect(lines.filter((l) => l.length > 100)).toEqual([]);
    for (const n of ['1', '2', '3', '4', '5', '6', '7']) expect(run.output).toContain(`\u25b6 ${n}. `);
    expect(run.output).toContain('export KUBECONFIG=');
    expect(run.output.replace(/\s+/g, ' ')).toMatch(/no sch_netem|tc netem delay/);
    expect(lines.filter((l) => l.trim() !== '').pop()).toBe('acknowledged writes lost: 0');

    // The summary against the API server, read after the demo stopped its processes.
    const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as {
      acknowledgedWritesLost: number;
      network: string;
      takeover: { killedSite: string; record: ReplicatedVolumeStatus['lastTakeover'] };
      migration: { requestId: string; record: ReplicatedVolumeStatus['lastMigration'] };
      resync: { trueDifferenceBytes: number; bytesCopied: number; scope: string; sourceNode: string; targetNode: string };
      verifyAfterTakeover: { node: string; acknowledged: number; lost: number };
      verifyAfterMigration: { node: string; acknowledged: number; lost: number };
    };
    const got = await kubectl(['-n', 'default', 'get', 'replicatedvolume', 'demo', '-o', 'json'], { kubeconfig: cp.kubeconfigPath });
    expect(got.code).toBe(0);
    const status = (JSON.parse(got.stdout) as { status: ReplicatedVolumeStatus }).status;
    expect(status.lastMigration).toEqual(summary.migration.record);
    expect(status).toMatchObject({
      currentPrimary: 'site-a', epoch: 3,
      lastMigration: { requestId: summary.migration.requestId, fromNode: 'site-c', toNode: 'site-a', fromEpoch: 2, toEpoch: 3, acknowledgedWritesLost: 0 },
      // A migration is carried out as a takeover: status.lastTakeover now records it.
      lastTakeover: { reason: 'MigrationRequested', requestId: summary.migration.requestId, fromNode: 'site-c', toNode: 'site-a' },
    });
    // The failure's takeover record, as the demo read it in step 5, against the operator's Event of it.
    const takeover = summary.takeover.record;
    expect(takeover).toMatchObject({ reason: 'NodeNotReady', fromNode: 'site-a', toNode: 'site-c', fromEpoch: 1, toEpoch: 2, acknowledgedWritesLost: 0 });
    const events = await kubectl(['-n', 'default', 'get', 'events', '--field-selector', 'involvedObject.name=demo,reason=TakeoverCompleted', '-o', 'json'], { kubeconfig: cp.kubeconfigPath });
    expect(events.code).toBe(0);
    const messages = (JSON.parse(events.stdout) as { items: Array<{ message: string }> }).items.map((e) => e.message);
    expect(messages).toContainEqual(expect.stringContaining(
      `site-c serves in epoch 2 after ${takeover?.durationSeconds} s (NodeNotReady): ${takeover?.entriesReplayed} entries replayed from the bunker, ` +
      `${takeover?.incompleteWritesApplied} incomplete writes applied, ${takeover?.bytesDrained} bytes drained, 0 acknowledged writes lost`,
    ));
    expect(summary.takeover.killedSite).toBe('site-a');
    expect(summary.network).toBe('network namespaces');
    expect(summary.acknowledgedWritesLost).toBe(0);
    expect(summary.verifyAfterTakeover).toMatchObject({ node: 'site-c', lost: 0 });
    expect(summary.verifyAfterTakeover.acknowledged).toBeGreaterThan(100);
    expect(summary.verifyAfterMigration).toMatchObject({ node: 'site-a', lost: 0 });
    // The resync copied what differed, about no more than that (changed regions only).
    expect(summary.resync).toMatchObject({ scope: 'Changed', sourceNode: 'site-c', targetNode: 'site-a' });
    expect(summary.resync.trueDifferenceBytes).toBeGreaterThan(0);
    expect(summary.resync.bytesCopied).toBeGreaterThan(0);
    expect(summary.resync.bytesCopied).toBeLessThanOrEqual(summary.resync.trueDifferenceBytes * 1.05 + 64 * 1024);

    // The data, checked here: every write the second writer saw acknowledged is on site-a.
    const dataPath = join(dataDir, 'site-a', 'volumes', 'default__demo', 'data.img');
    const result = await verifyAcknowledged(join(dataDir, 'writer-2.acks'), (offset, length) => readFileRange(dataPath, offset, length));
    expect(result.blocksChecked).toBe(summary.verifyAfterMigration.acknowledged);
    expect(result.lost).toEqual([]);

    // Nothing left behind, and --down says so.
    expect(existsSync(join(tmpdir(), `bunker-demo-${SUBNET}.json`))).toBe(false);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`bkd${SUBNET}-`);
    const down = await runDemo(['--down', '--subnet', String(SUBNET)], {}, 60_000);
    expect(down.code).toBe(0);
    expect(down.output).toContain(`no network namespaces of subnet 10.213.${SUBNET}.0/24 left`);
    expect(seconds).toBeLessThan(240);
  }, 300_000);
});
