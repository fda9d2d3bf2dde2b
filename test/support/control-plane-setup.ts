// Setup of the integration project: one control plane per test run, not per file (jest runs
// it through global-setup.mjs). Its address reaches the test workers through environment variables (workers are
// started after this runs and inherit them). A ConfigMap stamped with a run id lets tests
// prove they share it.
import { randomUUID } from 'node:crypto';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { kubectl } from './kubectl.js';

declare global {
  var bunkerControlPlane: ControlPlane | undefined;
}

export async function setUpControlPlane(): Promise<void> {
  const started = Date.now();
  const controlPlane = await startControlPlane();
  globalThis.bunkerControlPlane = controlPlane;
  const runId = randomUUID();
  process.env['BUNKER_TEST_KUBECONFIG'] = controlPlane.kubeconfigPath;
  process.env['BUNKER_CONTROL_PLANE_BIN'] = controlPlane.binDir;
  process.env['BUNKER_TEST_RUN_ID'] = runId;
  const stamp = await kubectl(['create', 'configmap', 'bunker-test-run', '-n', 'default', `--from-literal=runId=${runId}`]);
  if (stamp.code !== 0) throw new Error(`could not stamp the control plane: ${stamp.stderr}`);
  // Interrupted runs (Ctrl-C) still stop etcd and the apiserver; SIGKILL is the watchdog's job.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void controlPlane.stop().finally(() => process.exit(130));
    });
  }
  process.stderr.write(`\ncontrol plane ready at ${controlPlane.apiServerUrl} in ${Date.now() - started} ms (KUBECONFIG=${controlPlane.kubeconfigPath})\n`);
}

/** Stops the run's control plane and removes its data, whatever the tests' outcome. */
export async function tearDownControlPlane(): Promise<void> {
  const controlPlane = globalThis.bunkerControlPlane;
  globalThis.bunkerControlPlane = undefined;
  if (controlPlane !== undefined) await controlPlane.stop();
}
