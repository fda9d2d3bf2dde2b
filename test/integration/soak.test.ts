// The soak run of issue 11 in CI: two minutes of test/support/soak-run.ts (the same run as
// `npm run soak -- --minutes N`): one volume on three agents under the real operator, a
// verifiable writer through the volume's Service the whole time, rotating link faults
// (secondary stopped, far link slowed, bunker fsync slowed) and exactly one kill -9 takeover
// with its failback. It passes with zero acknowledged writes lost on the final primary and
// secondary, each agent's RSS at the end within 20% of its RSS after warm-up, and no file
// descriptors gained beyond a small slack. Both samples are printed. Nodes so-a/so-b/so-c,
// subnet 75 (the soak's own, so the other operator tests are never touched).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testCluster } from '../support/cluster.js';
import { buildWorkspace } from '../support/operator-process.js';
import { runSoak, soakFailures, soakTable, type SoakResult } from '../support/soak-run.js';

const MINUTES = 2;

let baseDir: string | undefined;
let result: SoakResult | undefined;

beforeAll(async () => {
  await buildWorkspace();
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-soak-ci-'));
}, 360_000);

afterAll(async () => {
  // Logs stay for whoever reads a failure; a passing run leaves nothing behind.
  if (baseDir !== undefined && result !== undefined && soakFailures(result).length === 0) await rm(baseDir, { recursive: true, force: true });
  else if (baseDir !== undefined) process.stdout.write(`soak logs kept in ${baseDir}\n`);
}, 30_000);

describe(`a ${MINUTES}-minute soak with link faults and one takeover`, () => {
  it('loses no acknowledged write, keeps the agents\' memory flat and leaks no file descriptor', async () => {
    if (baseDir === undefined) throw new Error('no base folder');
    const lines: string[] = [];
    result = await runSoak({
      kubeconfigPath: testCluster().kubeconfigPath, baseDir, namespace: 'soak', operatorNamespace: 'bunker-soak-system',
      nodes: ['so-a', 'so-b', 'so-c'], subnet: 75, durationMs: MINUTES * 60_000, log: (line) => lines.push(line),
    });
    const table = soakTable(result);
    process.stdout.write(`${lines.join('\n')}\n${table}\n`);

    expect(result.takeover).toBeDefined();
    expect(result.takeoverEvents).toBe(1);
    expect(result.takeover?.record?.acknowledgedWritesLost).toBe(0);
    expect(result.primary.blocksChecked).toBeGreaterThan(0);
    expect(result.primary.lost).toEqual([]);
    expect(result.secondary?.lost).toEqual([]);
    const checked = result.agents.filter((a) => a.ranWholeTime);
    expect(checked.length).toBeGreaterThanOrEqual(2);
    for (const agent of checked) {
      expect({ node: agent.node, rssOk: agent.rssOk, fdsOk: agent.fdsOk, warm: agent.warm, end: agent.end })
        .toEqual({ node: agent.node, rssOk: true, fdsOk: true, warm: agent.warm, end: agent.end });
    }
    expect(soakFailures(result)).toEqual([]);
  }, (MINUTES * 60 + 240) * 1_000);
});
