// The Helm chart: `helm lint` is clean, `helm template` renders with the defaults and with
// every toggle on, the objects say what the chart promises (two operator replicas with
// downward-API identity, an agent DaemonSet on the host network with its node name and a
// hostPath, least-privilege RBAC with no "*"), and the chart's copy of the CRD is the CRD.
// Needs the helm that scripts/control-plane/build.sh builds (CI builds it before the tests;
// on a fresh machine the first run builds it, which takes minutes). No helm is a failure
// here, never a skip.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot as root } from '../../../test/support/control-plane.js';
import { chartDir as chart, dig, helmBinary, list, renderChart, run, type Json } from '../../../test/support/helm-chart.js';

const crdFile = 'replicatedvolumes.replication.bunker.dev.yaml';

let helm = '';

beforeAll(async () => {
  helm = await helmBinary();
}, 60 * 60_000);

function render(...sets: string[]): Promise<Json[]> {
  return renderChart(helm, sets, { includeCrds: true });
}

function find(objects: Json[], kind: string, name: string): Json {
  const found = objects.find((object) => object['kind'] === kind && dig(object, 'metadata', 'name') === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} rendered`);
  return found;
}

function envOf(container: unknown): Map<string, unknown> {
  return new Map(list(dig(container, 'env')).map((entry) => [String(dig(entry, 'name')), dig(entry, 'value') ?? dig(entry, 'valueFrom', 'fieldRef', 'fieldPath')]));
}

describe('charts/bunker', () => {
  it('carries the CRD of crds/ unchanged', () => {
    const source = readFileSync(join(root, 'crds', crdFile), 'utf8');
    const copy = readFileSync(join(chart, 'crds', crdFile), 'utf8');
    // If this fails: cp crds/*.yaml charts/bunker/crds/
    expect(copy === source).toBe(true);
  });

  it('passes helm lint, with the defaults and with every toggle on', async () => {
    const plain = await run(helm, ['lint', chart, '--strict']);
    expect(plain.stdout).toContain('0 chart(s) failed');
    const toggled = await run(helm, ['lint', chart, '--strict', '--set', 'volumeNamespaces={apps,db}', '--set', 'metrics.serviceMonitor.enabled=true',
      '--set', 'monitoring.prometheusRule.enabled=true', '--set', 'monitoring.dashboard.enabled=true']);
    expect(toggled.stdout).toContain('0 chart(s) failed');
  }, 60_000);

  it('renders the operator: two replicas, identity from the downward API, leader election on', async () => {
    const objects = await render();
    const deployment = find(objects, 'Deployment', 'bunker-operator');
    expect(dig(deployment, 'spec', 'replicas')).toBe(2);
    const container = dig(deployment, 'spec', 'template', 'spec', 'containers', 0);
    const env = envOf(container);
    expect(env.get('POD_NAME')).toBe('metadata.name');
    expect(env.get('POD_NAMESPACE')).toBe('metadata.namespace');
    expect(env.get('BUNKER_LEADER_ELECTION')).toBe('true');
    expect(dig(container, 'ports', 0, 'containerPort')).toBe(9090);
    expect(dig(deployment, 'spec', 'template', 'spec', 'serviceAccountName')).toBe('bunker-operator');
    expect(dig(find(objects, 'PodDisruptionBudget', 'bunker-operator'), 'spec', 'minAvailable')).toBe(1);
  }, 60_000);

  it('renders the agent: host network, node name from spec.nodeName, data on a hostPath, the three ports', async () => {
    const objects = await render();
    const daemonSet = find(objects, 'DaemonSet', 'bunker-agent');
    const pod = dig(daemonSet, 'spec', 'template', 'spec');
    expect(dig(pod, 'hostNetwork')).toBe(true);
    expect(dig(pod, 'volumes', 0, 'hostPath')).toEqual({ path: '/var/lib/bunker', type: 'DirectoryOrCreate' });
    const container = dig(pod, 'containers', 0);
    const env = envOf(container);
    expect(env.get('NODE_NAME')).toBe('spec.nodeName');
    expect(env.get('BUNKER_DATA_DIR')).toBe('/var/lib/bunker');
    expect(env.get('BUNKER_NAMESPACE')).toBe('bunker-system');
    expect(list(dig(container, 'ports')).map((port) => [dig(port, 'name'), dig(port, 'containerPort')])).toEqual([['grpc', 7443], ['nbd', 10809], ['metrics', 9090]]);
  }, 60_000);

  it('grants the agent only get, create and patch on Leases in its namespace', async () => {
    const objects = await render();
    const role = find(objects, 'Role', 'bunker-agent');
    expect(dig(role, 'metadata', 'namespace')).toBe('bunker-system');
    expect(dig(role, 'rules')).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'patch'] }]);
    const bindings = objects.filter((object) => list(dig(object, 'subjects')).some((subject) => dig(subject, 'name') === 'bunker-agent'));
    expect(bindings.map((binding) => binding['kind'])).toEqual(['RoleBinding']);
  }, 60_000);

  it('grants nothing with "*", and volume permissions cluster-wide only when no namespaces are listed', async () => {
    const everywhere = await render();
    const rules = everywhere.filter((object) => object['kind'] === 'Role' || object['kind'] === 'ClusterRole').flatMap((role) => list(dig(role, 'rules')));
    for (const rule of rules) {
      for (const field of ['apiGroups', 'resources', 'verbs']) expect(list(dig(rule, field))).not.toContain('*');
    }
    const operatorRules = list(dig(find(everywhere, 'ClusterRole', 'bunker-operator-volumes'), 'rules'));
    expect(operatorRules.map((rule) => dig(rule, 'resources', 0))).toEqual([
      'replicatedvolumes', 'replicatedvolumes/status', 'replicatedvolumes/finalizers', 'services', 'endpointslices', 'events',
    ]);
    expect(find(everywhere, 'ClusterRoleBinding', 'bunker-operator-volumes')).toBeDefined();

    const listed = await render('volumeNamespaces={apps,db}');
    expect(listed.some((object) => object['kind'] === 'ClusterRoleBinding' && dig(object, 'metadata', 'name') === 'bunker-operator-volumes')).toBe(false);
    const bindings = listed.filter((object) => object['kind'] === 'RoleBinding' && dig(object, 'metadata', 'name') === 'bunker-operator-volumes');
    expect(bindings.map((binding) => dig(binding, 'metadata', 'namespace'))).toEqual(['apps', 'db']);
    expect(envOf(dig(find(listed, 'Deployment', 'bunker-operator'), 'spec', 'template', 'spec', 'containers', 0)).get('BUNKER_VOLUME_NAMESPACES')).toBe('apps,db');
  }, 60_000);

  it('renders the metrics Services, and the monitoring objects only when asked', async () => {
    const defaults = await render();
    expect(defaults.filter((object) => object['kind'] === 'Service').map((service) => dig(service, 'metadata', 'name'))).toEqual([
      'bunker-operator-metrics', 'bunker-agent-metrics',
    ]);
    expect(defaults.filter((object) => ['ServiceMonitor', 'PrometheusRule', 'ConfigMap'].includes(String(object['kind'])))).toEqual([]);
    const toggled = await render('metrics.serviceMonitor.enabled=true', 'monitoring.prometheusRule.enabled=true', 'monitoring.dashboard.enabled=true');
    expect(toggled.map((object) => object['kind'])).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule', 'ConfigMap']));
    const dashboard = dig(find(toggled, 'ConfigMap', 'bunker-dashboard'), 'data', 'bunker.json');
    expect(() => JSON.parse(String(dashboard))).not.toThrow();
  }, 60_000);

  it('includes the CRD with --include-crds', async () => {
    const objects = await render();
    const crd = find(objects, 'CustomResourceDefinition', 'replicatedvolumes.replication.bunker.dev');
    expect(dig(crd, 'spec', 'names', 'shortNames')).toEqual(['rv']);
  }, 60_000);
});

describe('charts/bunker: mutual TLS', () => {
  const pem = (secret: Json, key: string): string => Buffer.from(String(dig(secret, 'data', key)), 'base64').toString('utf8');

  it('makes a CA per installation and certificates it signed: the agents\' for DNS bunker-agent, the operator\'s', async () => {
    const objects = await render();
    const secret = find(objects, 'Secret', 'bunker-tls');
    const ca = new X509Certificate(pem(secret, 'ca.crt'));
    expect(ca.ca).toBe(true);
    const agentCert = new X509Certificate(pem(secret, 'agent.crt'));
    expect(agentCert.checkIssued(ca)).toBe(true);
    expect(agentCert.verify(ca.publicKey)).toBe(true);
    expect(agentCert.subjectAltName).toContain('DNS:bunker-agent');
    expect(agentCert.checkPrivateKey(createPrivateKey(pem(secret, 'agent.key')))).toBe(true);
    const operatorCert = new X509Certificate(pem(secret, 'operator.crt'));
    expect(operatorCert.verify(ca.publicKey)).toBe(true);
    expect(operatorCert.checkPrivateKey(createPrivateKey(pem(secret, 'operator.key')))).toBe(true);
    // A second render is a different installation: a different CA.
    const other = new X509Certificate(pem(find(await render(), 'Secret', 'bunker-tls'), 'ca.crt'));
    expect(other.fingerprint256).not.toBe(ca.fingerprint256);
  }, 60_000);

  it('mounts each component\'s own certificate and points the agent and the operator at it', async () => {
    const objects = await render();
    for (const [kind, name, component] of [['DaemonSet', 'bunker-agent', 'agent'], ['Deployment', 'bunker-operator', 'operator']] as const) {
      const spec = dig(find(objects, kind, name), 'spec', 'template', 'spec');
      const env = envOf(dig(spec, 'containers', 0));
      expect(env.get('BUNKER_TLS_CERT')).toBe('/etc/bunker/tls/tls.crt');
      expect(env.get('BUNKER_TLS_KEY')).toBe('/etc/bunker/tls/tls.key');
      expect(env.get('BUNKER_TLS_CA')).toBe('/etc/bunker/tls/ca.crt');
      const volume = list(dig(spec, 'volumes')).find((v) => dig(v, 'name') === 'tls');
      expect(dig(volume, 'secret', 'secretName')).toBe('bunker-tls');
      expect(list(dig(volume, 'secret', 'items')).map((item) => `${String(dig(item, 'key'))}>${String(dig(item, 'path'))}`)).toEqual([
        'ca.crt>ca.crt', `${component}.crt>tls.crt`, `${component}.key>tls.key`,
      ]);
      expect(list(dig(spec, 'containers', 0, 'volumeMounts')).some((m) => dig(m, 'name') === 'tls' && dig(m, 'readOnly') === true)).toBe(true);
    }
  }, 60_000);

  it('uses an existing Secret (cert-manager) as it is, and nothing when TLS is off', async () => {
    const existing = await render('tls.existingSecret=bunker-certs');
    expect(existing.some((o) => o['kind'] === 'Secret')).toBe(false);
    const volume = list(dig(find(existing, 'DaemonSet', 'bunker-agent'), 'spec', 'template', 'spec', 'volumes')).find((v) => dig(v, 'name') === 'tls');
    expect(dig(volume, 'secret')).toEqual({ secretName: 'bunker-certs' });
    const off = await render('tls.enabled=false');
    expect(off.some((o) => o['kind'] === 'Secret')).toBe(false);
    expect(envOf(dig(find(off, 'DaemonSet', 'bunker-agent'), 'spec', 'template', 'spec', 'containers', 0)).has('BUNKER_TLS_CERT')).toBe(false);
  }, 60_000);
});
