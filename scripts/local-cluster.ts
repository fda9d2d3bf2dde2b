// The README's first command: a local Kubernetes control plane (etcd + kube-apiserver built
// from the Go module proxy, cached) with Bunker's CRD installed through its Helm chart, left
// running until Ctrl-C. There is no kubelet, so nothing the chart schedules runs here: the
// operator and agents run as local processes (see the demo).
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { startControlPlane, repoRoot } from '../test/support/control-plane.js';
import { kubectl, runCommand } from '../test/support/kubectl.js';

function step(message: string): void {
  process.stdout.write(`\u25b6 ${message}\n`);
}

async function main(): Promise<void> {
  const keepRunning = !process.argv.includes('--exit');
  step('building or reusing the cached control plane (first run: several minutes)');
  const controlPlane = await startControlPlane();
  step(`kube-apiserver ready at ${controlPlane.apiServerUrl}`);
  const chart = join(repoRoot, 'charts/bunker');
  if (existsSync(chart)) {
    step('installing Bunker with its Helm chart (CRDs, RBAC, operator and agent objects)');
    const helm = await runCommand(join(controlPlane.binDir, 'helm'), [
      'upgrade', '--install', 'bunker', chart, '--namespace', 'bunker-system', '--create-namespace',
      '--kubeconfig', controlPlane.kubeconfigPath, '--wait=false',
    ], { timeoutMs: 120_000 });
    if (helm.code !== 0) throw new Error(`helm install failed:\n${helm.stderr}`);
  } else {
    step('no chart yet (charts/bunker): installing the CRDs from crds/');
    const applied = await kubectl(['apply', '-f', join(repoRoot, 'crds')], { kubeconfig: controlPlane.kubeconfigPath });
    if (applied.code !== 0) throw new Error(`kubectl apply of crds/ failed:\n${applied.stderr}`);
  }
  const crds = await kubectl(['get', 'crd', '-o', 'name'], { kubeconfig: controlPlane.kubeconfigPath });
  process.stdout.write(crds.stdout);
  process.stdout.write(`\nExplore it:\n  export KUBECONFIG=${controlPlane.kubeconfigPath}\n  kubectl get rv -A\n\n`);
  if (!keepRunning) {
    await controlPlane.stop();
    return;
  }
  step('running; Ctrl-C stops etcd and kube-apiserver and removes their data');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await controlPlane.stop();
}

main().catch((error: unknown) => {
  process.stderr.write(`local cluster failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
