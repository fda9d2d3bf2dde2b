// The adapter: objects shaped as the apiserver returns them parse into typed values with
// defaults filled; broken ones fail with every failing field named, never with a crash or
// a partly typed value.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import {
  parseReplicatedVolume, ReplicatedVolumeInvalid, tryParseReplicatedVolume, tryParseReplicatedVolumeManifest,
} from './replicated-volume.js';
import { quantityBytes } from './quantity.js';

const example: unknown = parse(readFileSync(fileURLToPath(new URL('../../../examples/replicated-volume.yaml', import.meta.url)), 'utf8'));

// What the apiserver adds to a created object: identity, and the defaults of the schema.
function stored(overrides: { spec?: Record<string, unknown>; status?: unknown; metadata?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    apiVersion: 'replication.bunker.dev/v1alpha1',
    kind: 'ReplicatedVolume',
    metadata: {
      name: 'demo', namespace: 'default', uid: '0b6b3c1e-0000-4000-8000-000000000001', resourceVersion: '42', generation: 3,
      creationTimestamp: '2026-01-02T03:04:05Z', finalizers: ['replication.bunker.dev/release'], labels: { app: 'db' },
      ...overrides.metadata,
    },
    spec: {
      size: '256Mi',
      placement: { primary: { node: 'site-a' }, bunker: { node: 'site-b' }, secondary: { node: 'site-c' }, spares: [] },
      log: { size: '64Mi', fillPolicy: 'trackChanges', changeMapRegionSize: '4Ki' },
      replication: { recovery: 'sync', secondary: 'async', onBunkerLoss: 'block' },
      failover: { mode: 'automatic', gracePeriodSeconds: 10, allowDataLoss: false },
      resync: { bytesPerSecondMax: '100Mi' },
      reclaimPolicy: 'Retain',
      ...overrides.spec,
    },
    ...(overrides.status === undefined ? {} : { status: overrides.status }),
  };
}

function issuesOf(value: unknown): string[] {
  const result = tryParseReplicatedVolume(value);
  return result.ok ? [] : result.issues.map((issue) => issue.path);
}

describe('parseReplicatedVolume', () => {
  it('parses a stored object into typed values', () => {
    const volume = parseReplicatedVolume(stored());
    expect(volume.metadata).toMatchObject({ name: 'demo', namespace: 'default', generation: 3, finalizers: ['replication.bunker.dev/release'] });
    expect(quantityBytes(volume.spec.size)).toBe(256 * 1024 * 1024);
    expect(volume.spec.placement.bunker.node).toBe('site-b');
    expect(volume.spec.failover).toEqual({ mode: 'automatic', gracePeriodSeconds: 10, allowDataLoss: false });
    expect(volume.status).toBeUndefined();
    expect(volume.spec.takeover).toBeUndefined();
  });

  it('fills the schema defaults as the apiserver does, for objects that lack them', () => {
    const result = tryParseReplicatedVolumeManifest(example);
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.value.spec).toEqual(parseReplicatedVolume(stored()).spec);
  });

  it('parses a full status', () => {
    const status = {
      phase: 'FailingOver', observedGeneration: 3, epoch: 7, currentPrimary: 'site-a', targetPrimary: 'site-c',
      roles: {
        primary: { node: 'site-a', state: 'Fenced', durableSeq: 100, appliedSeq: 98, health: 'Unreachable', address: '10.0.0.1:7443' },
        bunker: { node: 'site-b', state: 'Replicating', durableSeq: 100, health: 'Healthy' },
        secondary: { node: 'site-c', state: 'Draining', durableSeq: 90, appliedSeq: 90, health: 'Healthy' },
      },
      lag: { entries: 10, bytes: 40960, seconds: 1 },
      conditions: [
        { type: 'Ready', status: 'False', reason: 'FailingOver', message: 'taking over from site-a', lastTransitionTime: '2026-01-02T03:04:05Z', observedGeneration: 3 },
        { type: 'FailingOver', status: 'True', reason: 'NodeNotReady', message: 'site-a NotReady for 10s', lastTransitionTime: '2026-01-02T03:04:05.123456Z' },
      ],
      endpoint: { service: 'demo', address: '10.0.0.1:10809' },
      takeover: { step: 'drain', reason: 'NodeNotReady', startedAt: '2026-01-02T03:04:05Z', fromNode: 'site-a', targetNode: 'site-c', fromEpoch: 6, toEpoch: 7, entriesLeft: 10, bytesLeft: 40960 },
      lastRefusal: { rule: 'takeoverInProgress', reason: 'TakeoverRefused', message: 'a takeover is in progress', requestId: 't-1', at: '2026-01-02T03:04:06Z' },
    };
    const volume = parseReplicatedVolume(stored({ status }));
    expect(volume.status?.takeover?.step).toBe('drain');
    expect(volume.status?.roles?.bunker?.appliedSeq).toBeUndefined();
    expect(volume.status?.conditions?.map((condition) => condition.type)).toEqual(['Ready', 'FailingOver']);
    expect(volume.status?.epoch).toBe(7);
  });

  it('ignores fields the schema does not know (a newer CRD during an upgrade)', () => {
    const volume = parseReplicatedVolume(stored({ spec: { futureField: { anything: 1 } } }));
    expect(Object.keys(volume.spec)).not.toContain('futureField');
  });

  it('names every failing field at once, in apiserver spelling', () => {
    const broken = stored({
      spec: {
        size: 'big',
        placement: { primary: { node: 'site-a' }, bunker: { node: 'site-b' }, secondary: {}, spares: ['site-d', 'site-d'] },
        failover: { mode: 'auto', gracePeriodSeconds: 0 },
      },
      status: { epoch: -1, conditions: [{ type: 'Ready' }] },
    });
    expect(issuesOf(broken).sort()).toEqual([
      'spec.failover.gracePeriodSeconds',
      'spec.failover.mode',
      'spec.placement.secondary.node',
      'spec.placement.spares[1]',
      'spec.size',
      'status.conditions[0].lastTransitionTime',
      'status.conditions[0].message',
      'status.conditions[0].reason',
      'status.conditions[0].status',
      'status.epoch',
    ]);
  });

  it('throws ReplicatedVolumeInvalid with a stable code, the object and the fields', () => {
    let caught: unknown;
    try {
      parseReplicatedVolume(stored({ spec: { reclaimPolicy: 'Recycle' } }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ReplicatedVolumeInvalid);
    if (caught instanceof ReplicatedVolumeInvalid) {
      expect(caught.code).toBe('REPLICATED_VOLUME_INVALID');
      expect(caught.issues.map((issue) => issue.path)).toEqual(['spec.reclaimPolicy']);
      expect(caught.message).toContain('default/demo');
      expect(caught.message).toContain('spec.reclaimPolicy: must be one of "Retain", "Delete", got "Recycle"');
    }
  });

  it('refuses what the CEL rules refuse, for objects stored before a rule existed', () => {
    const sameNodes = stored({ spec: { placement: { primary: { node: 'a' }, bunker: { node: 'a' }, secondary: { node: 'b' }, spares: ['b'] } } });
    expect(issuesOf(sameNodes)).toEqual(['spec.placement.bunker.node', 'spec.placement.spares']);
    expect(issuesOf(stored({ metadata: { name: 'has.dots' } }))).toEqual(['metadata.name']);
    expect(issuesOf(stored({ spec: { log: { size: '8Mi' } } }))).toEqual(['spec.log.size']);
  });

  it('refuses sequences that a JavaScript number cannot hold exactly', () => {
    const status = { roles: { primary: { node: 'site-a', durableSeq: 2 ** 53 } } };
    expect(issuesOf(stored({ status }))).toEqual(['status.roles.primary.durableSeq']);
  });

  it('refuses anything that is not a ReplicatedVolume object', () => {
    expect(issuesOf(null)).toEqual(['']);
    expect(issuesOf([])).toEqual(['']);
    expect(issuesOf({ ...stored(), kind: 'PersistentVolume' })).toEqual(['kind']);
    expect(issuesOf({ ...stored(), apiVersion: 'replication.bunker.dev/v1' })).toEqual(['apiVersion']);
    const { spec: _spec, ...noSpec } = stored();
    expect(issuesOf(noSpec)).toEqual(['spec']);
    expect(issuesOf({ ...stored(), metadata: { name: 'demo' } })).toEqual(['metadata.namespace', 'metadata.uid', 'metadata.resourceVersion', 'metadata.generation']);
  });
});
