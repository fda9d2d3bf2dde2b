// RBAC least privilege (issue 11): the chart installed into the test control plane grants each
// ServiceAccount exactly what its code calls, and nothing past it. `kubectl auth can-i --list`
// as each ServiceAccount, minus what a bare ServiceAccount of the same namespace gets anyway
// (the cluster's discovery and self-review rules), must equal the expected table, in the
// release namespace and in a volume namespace. Then the calls the programs make are made for
// real, impersonating the ServiceAccounts, so that the table is also known to be enough.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectl, runCommand } from '../support/kubectl.js';
import { testCluster } from '../support/cluster.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const suffix = randomUUID().slice(0, 8);
const release = `rbac-${suffix}`;
const namespace = `bunker-rbac-${suffix}`;
const apps = `bunker-rbac-apps-${suffix}`;
const serviceAccount = (name: string): string => `system:serviceaccount:${namespace}:${name}`;
const operator = serviceAccount(`${release}-bunker-operator`);
const agent = serviceAccount(`${release}-bunker-agent`);
const bare = serviceAccount('nobody');

function helmPath(): string {
  const bin = process.env['BUNKER_CONTROL_PLANE_BIN'];
  if (bin === undefined || bin === '') throw new Error('BUNKER_CONTROL_PLANE_BIN is not set: the harness must say where helm is');
  return join(bin, 'helm');
}

async function ok(args: string[], input?: string): Promise<string> {
  const result = await kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

type Table = Record<string, string[]>;

/** `kubectl auth can-i --list` as a user in a namespace: resource (or non-resource URL) to its verbs. */
async function allowed(user: string, where: string): Promise<Table> {
  const output = await ok(['auth', 'can-i', '--list', '--as', user, '-n', where]);
  const table: Table = {};
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  expect(lines[0]).toMatch(/^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs/);
  for (const line of lines.slice(1)) {
    const match = /^(\S*)\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s*$/.exec(line);
    if (match === null) throw new Error(`unexpected can-i line: ${line}`);
    const [, resource = '', urls = '', names = '', verbs = ''] = match;
    // No rule of the chart is limited to resourceNames: a listed name would be a narrower grant
    // this table does not show, so it must not appear.
    expect([line, names]).toEqual([line, '']);
    const key = resource === '' ? `url:${urls}` : resource;
    table[key] = [...new Set([...(table[key] ?? []), ...verbs.split(' ').filter((verb) => verb !== '')])].sort();
  }
  return table;
}

/** What `user` is granted beyond a bare ServiceAccount of the release namespace. */
async function granted(user: string, where: string): Promise<Table> {
  const [all, baseline] = await Promise.all([allowed(user, where), allowed(bare, where)]);
  const extra: Table = {};
  for (const [resource, verbs] of Object.entries(all)) {
    const more = verbs.filter((verb) => !(baseline[resource] ?? []).includes(verb));
    if (more.length > 0) extra[resource] = more;
  }
  return extra;
}

async function as(user: string, args: string[], input?: string): Promise<{ code: number; stderr: string }> {
  const result = await kubectl([...args, '--as', user], input === undefined ? {} : { input });
  return { code: result.code, stderr: result.stderr };
}

const sorted = (verbs: string[]): string[] => [...verbs].sort();

// What the operator's code calls (operator/src/kube, operator/src/controller) wherever volumes live.
const operatorVolumeRules: Table = {
  'replicatedvolumes.replication.bunker.dev': sorted(['list', 'watch', 'patch']),
  'replicatedvolumes.replication.bunker.dev/status': ['patch', 'update'],
  'replicatedvolumes.replication.bunker.dev/finalizers': ['update'],
  services: sorted(['create', 'patch']),
  'endpointslices.discovery.k8s.io': sorted(['create', 'patch']),
  events: sorted(['create', 'patch']),
  nodes: sorted(['list', 'watch']),
};

describe('RBAC of charts/bunker, least privilege', () => {
  beforeAll(async () => {
    await ok(['create', 'namespace', namespace]);
    await ok(['create', 'namespace', apps]);
    await ok(['create', 'serviceaccount', 'nobody', '-n', namespace]);
    const result = await runCommand(helmPath(), ['install', release, join(root, 'charts/bunker'), '--namespace', namespace, '--wait=false',
      '--kubeconfig', testCluster().kubeconfigPath], { timeoutMs: 120_000 });
    if (result.code !== 0) throw new Error(`helm install failed (${result.code}): ${result.stderr}`);
  }, 180_000);

  afterAll(async () => {
    await runCommand(helmPath(), ['uninstall', release, '--namespace', namespace, '--kubeconfig', testCluster().kubeconfigPath], { timeoutMs: 120_000 });
    await kubectl(['delete', 'namespace', namespace, apps, '--wait=false']);
  }, 180_000);

  it('grants the operator exactly its Leases in the release namespace and its volume objects', async () => {
    expect(await granted(operator, namespace)).toEqual({
      ...operatorVolumeRules,
      'leases.coordination.k8s.io': sorted(['get', 'list', 'watch', 'create', 'patch']),
    });
    expect(await granted(operator, apps)).toEqual(operatorVolumeRules);
  }, 60_000);

  it('grants the agent exactly get, create and patch of Leases in the release namespace', async () => {
    expect(await granted(agent, namespace)).toEqual({ 'leases.coordination.k8s.io': sorted(['get', 'create', 'patch']) });
    expect(await granted(agent, apps)).toEqual({});
  }, 60_000);

  it('grants neither anything broad: no "*", no secrets, no pods, no deletes', async () => {
    for (const user of [operator, agent]) {
      for (const where of [namespace, apps]) {
        const table = await granted(user, where);
        for (const [resource, verbs] of Object.entries(table)) {
          expect([resource, verbs.includes('*') || verbs.includes('delete') || verbs.includes('deletecollection')]).toEqual([resource, false]);
          expect(resource).not.toMatch(/^\*|secrets|pods|configmaps|serviceaccounts|roles|rolebindings/);
        }
      }
      const forbidden = await kubectl(['auth', 'can-i', 'get', 'secrets', '--as', user, '-n', namespace]);
      expect(forbidden.stdout.trim()).toBe('no');
    }
  }, 60_000);

  it('lets the operator make the calls it makes: list nodes, server-side apply of Service and EndpointSlice, Events, its Lease', async () => {
    expect((await as(operator, ['get', 'nodes'])).code).toBe(0);
    expect((await as(operator, ['get', 'replicatedvolumes.replication.bunker.dev', '-n', apps])).code).toBe(0);
    // Server-side apply, which creates the objects (the apiserver asks for create too), with no get.
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'vol-a', namespace: apps }, spec: { clusterIP: 'None', ports: [{ name: 'nbd', port: 10809, protocol: 'TCP' }] } };
    const slice = {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'vol-a', namespace: apps, labels: { 'kubernetes.io/service-name': 'vol-a' } },
      addressType: 'IPv4', ports: [{ name: 'nbd', port: 10809, protocol: 'TCP' }], endpoints: [{ addresses: ['10.0.0.1'] }],
    };
    for (const object of [service, slice]) {
      const applied = await as(operator, ['apply', '--server-side', '--force-conflicts', '--field-manager', 'bunker-operator', '-f', '-'], JSON.stringify(object));
      expect([object.kind, applied.code, applied.stderr]).toEqual([object.kind, 0, '']);
    }
    const event = {
      apiVersion: 'v1', kind: 'Event', metadata: { name: 'vol-a.0123456789abcdef', namespace: apps },
      involvedObject: { apiVersion: 'v1', kind: 'Service', name: 'vol-a', namespace: apps }, reason: 'Test', message: 'rbac test', type: 'Normal', count: 1,
    };
    expect((await as(operator, ['create', '-f', '-'], JSON.stringify(event))).code).toBe(0);
    // kubectl patch reads the object first, which the operator (patching blind) is not granted
    // for Events: the bump of a repeated Event's count is checked by can-i instead.
    expect((await kubectl(['auth', 'can-i', 'patch', 'events', '--as', operator, '-n', apps])).stdout.trim()).toBe('yes');
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'bunker-operator', namespace }, spec: { holderIdentity: 'operator-0' } };
    expect((await as(operator, ['create', '-f', '-'], JSON.stringify(lease))).code).toBe(0);
    expect((await as(operator, ['patch', 'lease', 'bunker-operator', '-n', namespace, '--type', 'merge', '-p', '{"spec":{"leaseDurationSeconds":15}}'])).code).toBe(0);
    expect((await as(operator, ['get', 'leases', '-n', namespace])).code).toBe(0);
    // ...and not more: reading back, deleting, a Lease elsewhere.
    expect((await as(operator, ['get', 'service', 'vol-a', '-n', apps])).code).not.toBe(0);
    expect((await as(operator, ['delete', 'endpointslice', 'vol-a', '-n', apps])).code).not.toBe(0);
    expect((await as(operator, ['delete', 'lease', 'bunker-operator', '-n', namespace])).code).not.toBe(0);
    expect((await as(operator, ['get', 'leases', '-n', apps])).code).not.toBe(0);
  }, 60_000);

  it('lets the agent create and renew its heartbeat Lease, and nothing else', async () => {
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'node-a', namespace }, spec: { holderIdentity: 'node-a' } };
    expect((await as(agent, ['create', '-f', '-'], JSON.stringify(lease))).code).toBe(0);
    expect((await as(agent, ['get', 'lease', 'node-a', '-n', namespace])).code).toBe(0);
    const renewed = await as(agent, ['patch', 'lease', 'node-a', '-n', namespace, '--type', 'merge', '-p', '{"spec":{"leaseDurationSeconds":10},"metadata":{"labels":{"app.kubernetes.io/component":"agent"}}}']);
    expect([renewed.code, renewed.stderr]).toEqual([0, '']);
    expect((await as(agent, ['get', 'leases', '-n', namespace])).code).not.toBe(0);
    expect((await as(agent, ['delete', 'lease', 'node-a', '-n', namespace])).code).not.toBe(0);
    expect((await as(agent, ['get', 'nodes'])).code).not.toBe(0);
  }, 60_000);
});
