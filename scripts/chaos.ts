// Long chaos runs of the kill -9 takeover under the real operator, outside jest:
//   npm run chaos -- --runs 100 [--seed 12345] [--keep-going] [--keep-logs]
// Starts its own control plane (etcd + kube-apiserver, as the integration tests do), builds the
// workspace, then runs the same runs as test/integration/operator-takeover-chaos.test.ts
// (test/support/chaos-run.ts): one operator and four agents, a fresh volume per run, kill -9 of
// the primary after a seeded random 0.5–3 s of writes. Prints each run's lost-write count and
// takeover time, and a summary; exits 1 if any run lost a write or failed. Needs root (network
// namespaces for the agents' EndpointSlice address).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chaosRun, describeRun, killDelays, leftovers, startChaosEnvironment, stopChaosEnvironment, summarize, type ChaosEnvironment, type ChaosRunResult } from '../test/support/chaos-run.js';
import { startControlPlane, type ControlPlane } from '../test/support/control-plane.js';
import { buildWorkspace } from '../test/support/operator-process.js';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, seed: { type: 'string' }, 'keep-going': { type: 'boolean', default: false }, 'keep-logs': { type: 'boolean', default: false } } });
  const runs = Number(values.runs);
  const seed = values.seed === undefined ? Date.now() % 1_000_000_007 : Number(values.seed);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed) || seed < 0) throw new Error('usage: npm run chaos -- --runs N [--seed S] [--keep-going] [--keep-logs]');
  const delays = killDelays(seed, runs);
  process.stdout.write(`chaos: ${runs} runs, seed ${seed} (replay with --seed ${seed})\n`);

  const started = Date.now();
  let controlPlane: ControlPlane | undefined;
  let env: ChaosEnvironment | undefined;
  let baseDir: string | undefined;
  const results: ChaosRunResult[] = [];
  let failures = 0;
  const stop = (): void => {
    process.stdout.write('interrupted: stopping\n');
    void stopChaosEnvironment(env).finally(() => controlPlane?.stop()).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    controlPlane = await startControlPlane();
    process.env['BUNKER_TEST_KUBECONFIG'] = controlPlane.kubeconfigPath;
    await buildWorkspace();
    baseDir = await mkdtemp(join(tmpdir(), 'bunker-chaos-'));
    env = await startChaosEnvironment({
      kubeconfigPath: controlPlane.kubeconfigPath, baseDir, namespace: 'chaos', operatorNamespace: 'bunker-chaos-system',
      nodes: ['chaos-a', 'chaos-b', 'chaos-c', 'chaos-d'], subnet: 65, gracePeriodSeconds: 1,
    });
    process.stdout.write(`control plane, operator and four agents up in ${Date.now() - started} ms\n`);
    for (const [run, writeMs] of delays.entries()) {
      try {
        const result = await chaosRun(env, run, writeMs, `chaos-${seed}`);
        results.push(result);
        process.stdout.write(`${describeRun(result)}\n`);
        if (result.lost > 0 || result.lastTakeover?.acknowledgedWritesLost !== 0) {
          failures += 1;
          process.stdout.write(`  LOST WRITES: ${JSON.stringify(result.lostDetail)}; lastTakeover ${JSON.stringify(result.lastTakeover)}\n`);
        }
      } catch (error) {
        failures += 1;
        process.stdout.write(`chaos run ${run} (kill after ${writeMs} ms) FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
        if (!values['keep-going']) break;
      }
      if (failures > 0 && !values['keep-going']) break;
    }
    const left = await leftovers(env);
    process.stdout.write(`left after the runs: volumes ${JSON.stringify(left.volumes)}; replicas held ${JSON.stringify(left.replicas)}\n`);
  } finally {
    process.stdout.write(`${summarize(results)}; ${failures} failed; seed ${seed}; ${Date.now() - started} ms in all` +
      `${baseDir === undefined || (failures === 0 && values['keep-logs'] !== true) ? '' : `; logs kept in ${baseDir}`}\n`);
    await stopChaosEnvironment(env);
    await controlPlane?.stop();
    if (baseDir !== undefined && failures === 0 && values['keep-logs'] !== true) await rm(baseDir, { recursive: true, force: true });
  }
  return failures === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
