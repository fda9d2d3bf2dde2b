// The chart against a real kube-apiserver: `helm install` creates every object of the chart
// (and the CRD from its crds/ folder if it is not there yet), the ServiceAccounts can do
// what the operator and the agent need and nothing past it (`kubectl auth can-i`), and
// `helm uninstall` removes the objects again. The control plane has no kubelet, so no pod
// runs: this shows the objects are created and valid, not that the programs work.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectl, runCommand } from '../support/kubectl.js';
import { testCluster } from '../support/cluster.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const release = 'bunker-it';
const namespace = 'bunker-chart-test';
const operator = `system:serviceaccount:${namespace}:${release}-operator`;
const agent = `system:serviceaccount:${namespace}:${release}-agent`;
const namespacedKinds = 'deployment,daemonset,serviceaccount,role,rolebinding,service,poddisruptionbudget';

function helmPath(): string {
  const bin = process.env['BUNKER_CONTROL_PLANE_BIN'];
  if (bin === undefined || bin === '') throw new Error('BUNKER_CONTROL_PLANE_BIN is not set: the harness must say where helm is');
  return join(bin, 'helm');
}

async function helm(args: string[]): Promise<string> {
  const result = await runCommand(helmPath(), [...args, '--kubeconfig', testCluster().kubeconfigPath], { timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

async function names(kinds: string, extra: string[] = []): Promise<string[]> {
  const result = await kubectl(['get', kinds, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name', ...extra]);
  if (result.code !== 0) throw new Error(`kubectl get ${kinds} failed: ${result.stderr}`);
  return result.stdout.split('\n').filter((line) => line !== '').sort();
}

async function can(user: string, verb: string, resource: string, where: string[] = []): Promise<boolean> {
  const result = await kubectl(['auth', 'can-i', verb, resource, '--as', user, ...where]);
  // can-i exits 0 for yes and 1 for no; anything else is a failed check, not an answer.
  if (result.code !== 0 && result.code !== 1) throw new Error(`kubectl auth can-i failed: ${result.stderr}`);
  return result.stdout.trim() === 'yes';
}

describe('helm install of charts/bunker', () => {
  beforeAll(async () => {
    await helm(['install', release, join(root, 'charts/bunker'), '--namespace', namespace, '--create-namespace', '--wait=false']);
  }, 180_000);

  afterAll(async () => {
    await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  });

  it('creates every object of the chart', async () => {
    expect(await names(namespacedKinds, ['-n', namespace])).toEqual([
      `daemonset.apps/${release}-agent`,
      `deployment.apps/${release}-operator`,
      `poddisruptionbudget.policy/${release}-operator`,
      `role.rbac.authorization.k8s.io/${release}-agent`,
      `role.rbac.authorization.k8s.io/${release}-operator`,
      `rolebinding.rbac.authorization.k8s.io/${release}-agent`,
      `rolebinding.rbac.authorization.k8s.io/${release}-operator`,
      `service/${release}-agent-metrics`,
      `service/${release}-operator-metrics`,
      `serviceaccount/${release}-agent`,
      `serviceaccount/${release}-operator`,
    ]);
    expect(await names('clusterrole,clusterrolebinding')).toEqual([
      `clusterrole.rbac.authorization.k8s.io/${release}-operator-nodes`,
      `clusterrole.rbac.authorization.k8s.io/${release}-operator-volumes`,
      `clusterrolebinding.rbac.authorization.k8s.io/${release}-operator-nodes`,
      `clusterrolebinding.rbac.authorization.k8s.io/${release}-operator-volumes`,
    ]);
    const crd = await kubectl(['get', 'crd', 'replicatedvolumes.replication.bunker.dev', '-o', 'name']);
    expect(crd.code).toBe(0);
  });

  it.each([
    ['watch', 'replicatedvolumes.replication.bunker.dev', ['-n', 'apps']],
    ['patch', 'replicatedvolumes.replication.bunker.dev', ['-n', 'apps']],
    // kubectl reads TYPE/NAME, so a subresource is named with --subresource.
    ['update', 'replicatedvolumes.replication.bunker.dev', ['-n', 'apps', '--subresource', 'status']],
    ['update', 'replicatedvolumes.replication.bunker.dev', ['-n', 'apps', '--subresource', 'finalizers']],
    ['watch', 'nodes', []],
    ['create', 'services', ['-n', 'apps']],
    ['patch', 'endpointslices.discovery.k8s.io', ['-n', 'apps']],
    ['create', 'events', ['-n', 'apps']],
    ['patch', 'leases.coordination.k8s.io', ['-n', namespace]],
    ['watch', 'leases.coordination.k8s.io', ['-n', namespace]],
  ])('lets the operator %s %s %j', async (verb, resource, where) => {
    expect(await can(operator, verb, resource, where)).toBe(true);
  });

  it.each([
    ['delete', 'replicatedvolumes.replication.bunker.dev', ['-n', 'apps']],
    ['update', 'nodes', []],
    ['get', 'secrets', ['-n', namespace]],
    ['create', 'pods', ['-n', 'apps']],
    ['create', 'leases.coordination.k8s.io', ['-n', 'apps']],
    ['delete', 'leases.coordination.k8s.io', ['-n', namespace]],
    ['*', '*', ['-n', namespace]],
  ])('does not let the operator %s %s %j', async (verb, resource, where) => {
    expect(await can(operator, verb, resource, where)).toBe(false);
  });

  it.each(['get', 'create', 'patch'])('lets the agent %s Leases in the release namespace', async (verb) => {
    expect(await can(agent, verb, 'leases.coordination.k8s.io', ['-n', namespace])).toBe(true);
  });

  it.each([
    ['list', 'leases.coordination.k8s.io', ['-n', namespace]],
    ['delete', 'leases.coordination.k8s.io', ['-n', namespace]],
    ['create', 'leases.coordination.k8s.io', ['-n', 'default']],
    ['get', 'replicatedvolumes.replication.bunker.dev', ['-n', 'apps']],
    ['get', 'nodes', []],
    ['get', 'secrets', ['-n', namespace]],
  ])('does not let the agent %s %s %j', async (verb, resource, where) => {
    expect(await can(agent, verb, resource, where)).toBe(false);
  });

  it('is removed by helm uninstall, except the CRD', async () => {
    await helm(['uninstall', release, '--namespace', namespace, '--wait']);
    expect(await names(namespacedKinds, ['-n', namespace])).toEqual([]);
    expect(await names('clusterrole,clusterrolebinding')).toEqual([]);
    // Helm never deletes CRDs (that would delete every volume): that is the user's decision.
    expect((await kubectl(['get', 'crd', 'replicatedvolumes.replication.bunker.dev', '-o', 'name'])).code).toBe(0);
  }, 120_000);
});
