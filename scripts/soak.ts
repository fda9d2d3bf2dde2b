// A soak run outside jest, as long as asked (10 minutes or more by hand):
//   npm run soak -- --minutes 10 [--keep-logs]
// Starts its own control plane (etcd + kube-apiserver, as the integration tests do), builds the
// workspace, then runs test/support/soak-run.ts: one volume on three agents under the real
// operator, a verifiable writer through the
// volume's Service for the whole run, link faults at intervals, one kill -9 takeover and its
// failback; then every acknowledged write checked and each agent's RSS and file descriptors
// against warm-up. Prints a summary table; exits 1 if a check failed. Needs root (network
// namespaces for the agents' EndpointSlice address). Nodes so-a/so-b/so-c, subnet 75.
// CI runs two minutes of the same (test/integration/soak.test.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane, type ControlPlane } from '../test/support/control-plane.js';
import { buildWorkspace } from '../test/support/operator-process.js';
import { runSoak, soakFailures, soakTable } from '../test/support/soak-run.js';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, 'keep-logs': { type: 'boolean', default: false } } });
  const minutes = Number(values.minutes);
  if (!Number.isFinite(minutes) || minutes < 1 || minutes > 24 * 60) throw new Error('usage: npm run soak -- --minutes N (1 to 1440) [--keep-logs]');
  const started = Date.now();
  let controlPlane: ControlPlane | undefined;
  let baseDir: string | undefined;
  let failed = true;
  const stop = (): void => {
    process.stdout.write('interrupted: stopping the control plane (the agents and the operator die with this process)\n');
    void Promise.resolve(controlPlane?.stop()).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    controlPlane = await startControlPlane();
    process.env['BUNKER_TEST_KUBECONFIG'] = controlPlane.kubeconfigPath;
    await buildWorkspace();
    baseDir = await mkdtemp(join(tmpdir(), 'bunker-soak-'));
    process.stdout.write(`soak: ${minutes} min; control plane up and workspace built in ${Date.now() - started} ms; logs in ${baseDir}\n`);
    const result = await runSoak({
      kubeconfigPath: controlPlane.kubeconfigPath, baseDir, namespace: 'soak', operatorNamespace: 'bunker-soak-system',
      nodes: ['so-a', 'so-b', 'so-c'], subnet: 75, durationMs: Math.round(minutes * 60_000),
    });
    process.stdout.write(`${soakTable(result)}\n`);
    failed = soakFailures(result).length > 0;
  } catch (error) {
    process.stdout.write(`soak FAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  } finally {
    await controlPlane?.stop();
    if (baseDir !== undefined) {
      if (failed || values['keep-logs'] === true) process.stdout.write(`logs kept in ${baseDir}\n`);
      else await rm(baseDir, { recursive: true, force: true });
    }
    process.stdout.write(`soak: ${Date.now() - started} ms in all\n`);
  }
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
