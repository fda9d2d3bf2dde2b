// The CRD against a real kube-apiserver (started once per run by the harness in
// test/support): it installs and becomes Established; every manifest of the bad corpus is
// refused by `kubectl apply` with the message its `# expect:` header names; the example is
// accepted and comes back with the schema's defaults, and parses with the operator's
// adapter; updates that shrink the volume, move a role or change an immutable field are
// refused while legal ones pass; the status the operator will write is accepted and read
// back by the adapter; `kubectl get rv` shows the printer columns.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { parseReplicatedVolume } from '../../operator/src/api/replicated-volume.js';
import { quantityBytes } from '../../operator/src/api/quantity.js';
import { testCluster } from '../support/cluster.js';
import { kubectl } from '../support/kubectl.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const crdPath = join(root, 'crds/replicatedvolumes.replication.bunker.dev.yaml');
const badDir = join(root, 'test/fixtures/manifests/bad');
const badUpdatesDir = join(root, 'test/fixtures/manifests/bad-updates');
const namespace = 'crd-validation';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.yaml')).sort();
}

function expectHeader(text: string): string {
  const line = text.split('\n').find((candidate) => candidate.startsWith('# expect: '));
  if (line === undefined) throw new Error('manifest has no "# expect:" header');
  return line.slice('# expect: '.length);
}

async function ok(args: string[], input?: string): Promise<string> {
  const result = await kubectl(['-n', namespace, ...args], input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

async function getVolume(name: string): Promise<unknown> {
  return JSON.parse(await ok(['get', 'replicatedvolume', name, '-o', 'json']));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

beforeAll(async () => {
  // The harness's kubeconfig must be loadable: a broken harness fails here, not in each test.
  expect(testCluster().kubeconfigPath).not.toBe('');
  const applied = await kubectl(['apply', '--server-side', '-f', crdPath]);
  if (applied.code !== 0) throw new Error(`installing the CRD failed: ${applied.stderr}`);
  const established = await kubectl(['wait', '--for', 'condition=Established', '--timeout', '60s', 'crd/replicatedvolumes.replication.bunker.dev']);
  if (established.code !== 0) throw new Error(`the CRD did not become Established: ${established.stderr}`);
  const created = await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }) });
  if (created.code !== 0) throw new Error(`creating namespace ${namespace} failed: ${created.stderr}`);
}, 120_000);

afterAll(async () => {
  await kubectl(['delete', 'namespace', namespace, '--wait=false']);
});

describe('the CRD', () => {
  it('is Established with its names, short name and status subresource', async () => {
    const crd: unknown = JSON.parse((await kubectl(['get', 'crd', 'replicatedvolumes.replication.bunker.dev', '-o', 'json'])).stdout);
    const spec = isRecord(crd) ? crd['spec'] : undefined;
    expect(spec).toMatchObject({ group: 'replication.bunker.dev', scope: 'Namespaced', names: { kind: 'ReplicatedVolume', shortNames: ['rv'] } });
    const resources = await kubectl(['api-resources', '--api-group', 'replication.bunker.dev', '-o', 'wide']);
    expect(resources.stdout).toMatch(/replicatedvolumes\s+rv\s+replication\.bunker\.dev\/v1alpha1\s+true\s+ReplicatedVolume/);
  });
});

describe('bad manifests are refused by kubectl apply with a message naming the field', () => {
  const files = yamlFiles(badDir);

  it('has a corpus of at least 18', () => {
    expect(files.length).toBeGreaterThanOrEqual(18);
  });

  it.each(files)('%s', async (name) => {
    const text = readFileSync(join(badDir, name), 'utf8');
    const result = await kubectl(['apply', '-n', namespace, '-f', join(badDir, name)]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(expectHeader(text));
  });
});

describe('the example', () => {
  it('is accepted, comes back with every default, and parses with the adapter', async () => {
    await ok(['apply', '-f', join(root, 'examples/replicated-volume.yaml')]);
    const stored = await getVolume('demo');
    const volume = parseReplicatedVolume(stored);
    expect(volume.metadata.namespace).toBe(namespace);
    expect(quantityBytes(volume.spec.size)).toBe(256 * 1024 * 1024);
    expect(volume.spec).toEqual({
      size: '256Mi',
      placement: { primary: { node: 'site-a' }, bunker: { node: 'site-b' }, secondary: { node: 'site-c' }, spares: [] },
      log: { size: '64Mi', fillPolicy: 'trackChanges', changeMapRegionSize: '4Ki' },
      replication: { recovery: 'sync', secondary: 'async', onBunkerLoss: 'block' },
      failover: { mode: 'automatic', gracePeriodSeconds: 10, allowDataLoss: false },
      resync: { bytesPerSecondMax: '100Mi' },
      reclaimPolicy: 'Retain',
    });
  });

  it('takes the manual takeover and migrate patches of examples/', async () => {
    await ok(['apply', '-f', join(root, 'examples/manual-failover-volume.yaml')]);
    await ok(['patch', 'rv', 'manual', '--type', 'merge', '--patch-file', join(root, 'examples/manual-takeover.yaml')]);
    await ok(['patch', 'rv', 'manual', '--type', 'merge', '--patch-file', join(root, 'examples/migrate.yaml')]);
    // The documented way to replace a request whole, without a file.
    await ok(['patch', 'rv', 'manual', '--type', 'json', '-p', JSON.stringify([{ op: 'add', path: '/spec/takeover', value: { requestId: 'takeover-2' } }])]);
    const volume = parseReplicatedVolume(await getVolume('manual'));
    expect(volume.spec.failover.mode).toBe('manual');
    expect(volume.spec.takeover).toEqual({ requestId: 'takeover-2', allowDataLoss: false });
    expect(volume.spec.migrate).toEqual({ requestId: 'back-to-site-a-1', targetNode: 'site-a' });
  });
});

describe('updates', () => {
  it.each(yamlFiles(badUpdatesDir))('%s is refused and leaves the object as it was', async (name) => {
    const text = readFileSync(join(badUpdatesDir, name), 'utf8');
    const [before, after] = parseAllDocuments(text).map((document) => document.toJS());
    if (!isRecord(before) || !isRecord(after)) throw new Error(`${name} must hold two documents`);
    await ok(['apply', '-f', '-'], JSON.stringify(before));
    const volumeName = isRecord(before['metadata']) ? String(before['metadata']['name']) : '';
    const storedBefore = parseReplicatedVolume(await getVolume(volumeName));
    const result = await kubectl(['apply', '-n', namespace, '-f', '-'], { input: JSON.stringify(after) });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(expectHeader(text));
    expect(parseReplicatedVolume(await getVolume(volumeName)).spec).toEqual(storedBefore.spec);
  });

  it('lets the volume grow, spares change, a request be replaced and the policies change', async () => {
    const base: unknown = parse(readFileSync(join(root, 'examples/replicated-volume.yaml'), 'utf8'));
    if (!isRecord(base) || !isRecord(base['metadata'])) throw new Error('example has no metadata');
    await ok(['apply', '-f', '-'], JSON.stringify({ ...base, metadata: { name: 'legal-updates' } }));
    const patches = [
      { spec: { size: '512Mi' } },
      { spec: { size: '536870912' } }, // the same size, spelled in bytes
      { spec: { size: '1Gi', placement: { spares: ['site-d'] } } },
      { spec: { takeover: { requestId: 't-1' } } },
      { spec: { takeover: { requestId: 't-2', targetNode: 'site-c' } } },
      { spec: { failover: { mode: 'manual', gracePeriodSeconds: 30 }, replication: { recovery: 'none', onBunkerLoss: 'degrade' }, reclaimPolicy: 'Delete' } },
      { spec: { log: { fillPolicy: 'block' }, resync: { bytesPerSecondMax: '10Mi' } } },
    ];
    for (const patch of patches) await ok(['patch', 'rv', 'legal-updates', '--type', 'merge', '-p', JSON.stringify(patch)]);
    const volume = parseReplicatedVolume(await getVolume('legal-updates'));
    expect(volume.spec.size).toBe('1Gi');
    expect(volume.spec.placement.spares).toEqual(['site-d']);
    expect(volume.spec.takeover).toEqual({ requestId: 't-2', targetNode: 'site-c', allowDataLoss: false });
    expect(volume.spec.reclaimPolicy).toBe('Delete');
  });
});

describe('status', () => {
  const status = {
    phase: 'Ready', observedGeneration: 1, epoch: 3, currentPrimary: 'site-a', targetPrimary: 'site-a',
    roles: {
      primary: { node: 'site-a', state: 'Serving', durableSeq: 1200, appliedSeq: 1200, health: 'Healthy', address: '10.0.0.1:7443' },
      bunker: { node: 'site-b', state: 'Replicating', durableSeq: 1200, health: 'Healthy', address: '10.0.0.2:7443' },
      secondary: { node: 'site-c', state: 'Replicating', durableSeq: 1158, appliedSeq: 1150, health: 'Healthy', address: '10.0.0.3:7443' },
    },
    lag: { entries: 42, bytes: 172032, seconds: 2 },
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Replicating', message: 'all three replicas in sync', lastTransitionTime: '2026-01-02T03:04:05Z', observedGeneration: 1 },
      { type: 'RecoveryCopyInSync', status: 'True', reason: 'BunkerDurable', message: 'the bunker holds every acknowledged write', lastTransitionTime: '2026-01-02T03:04:05Z' },
    ],
    endpoint: { service: 'demo', address: '10.0.0.1:10809' },
    lastTakeover: {
      reason: 'NodeNotReady', startedAt: '2026-01-02T03:00:00Z', finishedAt: '2026-01-02T03:00:12Z', durationSeconds: 12.4,
      fromNode: 'site-c', toNode: 'site-a', fromEpoch: 2, toEpoch: 3, entriesReplayed: 310, incompleteWritesApplied: 4, bytesDrained: 1269760, acknowledgedWritesLost: 0,
    },
    resync: { state: 'Running', scope: 'Changed', sourceNode: 'site-a', targetNode: 'site-c', regionsTotal: 100, regionsDone: 40, bytesTotal: 409600, bytesDone: 163840, bytesSkipped: 81920, rateBytesPerSecond: 1048576, etaSeconds: 1 },
  };

  it('accepts the status the operator writes, and the adapter reads it back', async () => {
    await ok(['patch', 'rv', 'demo', '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({ status })]);
    const volume = parseReplicatedVolume(await getVolume('demo'));
    expect(volume.status?.lastTakeover?.acknowledgedWritesLost).toBe(0);
    expect(volume.status?.roles?.secondary?.durableSeq).toBe(1158);
    expect(volume.status?.conditions?.map((condition) => condition.type)).toEqual(['Ready', 'RecoveryCopyInSync']);
  });

  it('refuses a phase the schema does not know', async () => {
    const result = await kubectl(['-n', namespace, 'patch', 'rv', 'demo', '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({ status: { phase: 'Happy' } })]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('status.phase: Unsupported value: "Happy"');
  });

  it('shows the printer columns with values in kubectl get rv', async () => {
    const table = await ok(['get', 'rv', 'demo']);
    const [header, row] = table.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'PHASE', 'PRIMARY', 'BUNKER', 'SECONDARY', 'LAG', 'AGE']);
    expect(row?.split(/\s+/).slice(0, 6)).toEqual(['demo', 'Ready', 'site-a', 'site-b', 'site-c', '42']);
    const wide = await ok(['get', 'rv', 'demo', '-o', 'wide']);
    const [wideHeader, wideRow] = wide.trim().split('\n');
    expect(wideHeader?.split(/\s+/)).toEqual(['NAME', 'PHASE', 'PRIMARY', 'BUNKER', 'SECONDARY', 'LAG', 'LAG-SECONDS', 'EPOCH', 'SIZE', 'AGE']);
    expect(wideRow?.split(/\s+/).slice(0, 9)).toEqual(['demo', 'Ready', 'site-a', 'site-b', 'site-c', '42', '2', '3', '256Mi']);
  });
});
