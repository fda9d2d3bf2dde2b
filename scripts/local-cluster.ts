// The README's first command: a local Kubernetes control plane (etcd + kube-apiserver built
// from the Go module proxy, cached) with Bunker installed by its Helm chart, three Node
// objects for three sites, a bunker-agent per site and the operator running as local
// processes (there is no kubelet to run the chart's pods), and the example ReplicatedVolume
// brought to Ready. Left running for exploration with kubectl until Ctrl-C.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, repoRoot } from '../test/support/control-plane.js';
import { kubectl, runCommand } from '../test/support/kubectl.js';
import { startAgent, type AgentProcess } from '../test/support/agent-process.js';
import { buildWorkspace, ensureReadyNode, startOperator, testLinkAddress, type OperatorProcess } from '../test/support/operator-process.js';
import { waitFor } from '../test/support/wait-for.js';

const SITES = ['site-a', 'site-b', 'site-c'] as const;
const NAMESPACE = 'bunker-system';

function step(message: string): void {
  process.stdout.write(`\u25b6 ${message}\n`);
}

async function main(): Promise<void> {
  const keepRunning = !process.argv.includes('--exit');
  const started = Date.now();
  step('building or reusing the cached control plane (first run: several minutes)');
  const controlPlane = await startControlPlane();
  const kubeconfig = controlPlane.kubeconfigPath;
  process.env['BUNKER_TEST_KUBECONFIG'] = kubeconfig;
  const baseDir = await mkdtemp(join(tmpdir(), 'bunker-local-'));
  const agents: AgentProcess[] = [];
  let operator: OperatorProcess | undefined;
  let link: { readonly host: string; destroy(): Promise<void> } | undefined;
  try {
    step(`kube-apiserver ready at ${controlPlane.apiServerUrl}`);
    step('installing Bunker with its Helm chart (CRDs, RBAC, operator Deployment, agent DaemonSet)');
    const helm = await runCommand(join(controlPlane.binDir, 'helm'), [
      'upgrade', '--install', 'bunker', join(repoRoot, 'charts/bunker'), '--namespace', NAMESPACE, '--create-namespace', '--kubeconfig', kubeconfig,
    ], { timeoutMs: 120_000 });
    if (helm.code !== 0) throw new Error(`helm install failed:\n${helm.stderr}`);
    step('building the agent and the operator (tsc -b)');
    await buildWorkspace();
    step(`creating Node objects ${SITES.join(', ')} (no kubelet: their Ready condition is set here)`);
    for (const site of SITES) await ensureReadyNode(site);
    link = await testLinkAddress(70).catch((error: unknown) => {
      process.stdout.write(`  (${error instanceof Error ? error.message : String(error)}; agents listen on 127.0.0.1 and the EndpointSlice cannot be published)\n`);
      return undefined;
    });
    const host = link?.host ?? '127.0.0.1';
    step(`starting three bunker-agent processes on ${host} (the chart's DaemonSet has no kubelet to run it)`);
    for (const site of SITES) agents.push(await startAgent({ node: site, baseDir, kubeconfig, namespace: NAMESPACE, host }));
    step('starting the operator as a local process');
    operator = await startOperator({ identity: 'local', baseDir, kubeconfig, namespace: NAMESPACE, volumeNamespaces: ['default'], leaderElect: true });
    step('kubectl apply -f examples/replicated-volume.yaml');
    const applied = await kubectl(['apply', '-f', join(repoRoot, 'examples/replicated-volume.yaml')]);
    if (applied.code !== 0) throw new Error(`kubectl apply failed:\n${applied.stderr}`);
    await waitFor('the volume to be Ready', async () => {
      const phase = await kubectl(['get', 'rv', 'demo', '-o', 'jsonpath={.status.phase}']);
      return phase.stdout === 'Ready' ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    process.stdout.write(`${(await kubectl(['get', 'rv', '-o', 'wide'])).stdout}\n`);
    const endpoint = await kubectl(['get', 'rv', 'demo', '-o', 'jsonpath={.status.endpoint.address}']);
    process.stdout.write([
      `Ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Explore it:`,
      `  export KUBECONFIG=${kubeconfig}`,
      '  kubectl get rv -o wide; kubectl describe rv demo; kubectl get events',
      `  qemu-io -f raw -c 'write -P 0xab 0 64k' -c 'read -P 0xab 0 64k' nbd://${endpoint.stdout}/default/demo`,
      `Logs of the agents and the operator: ${baseDir}`,
      '',
    ].join('\n'));
    if (!keepRunning) return;
    step('running; Ctrl-C stops everything and removes its data');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  } finally {
    await operator?.stop();
    await Promise.all(agents.map((a) => a.stop()));
    await link?.destroy();
    await controlPlane.stop();
    await rm(baseDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`local cluster failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
