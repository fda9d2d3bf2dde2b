// Method: a table of worlds. Each row starts from one volume on three Ready nodes with live
// agents, changes what the row is about (a missing node, a silent agent, a deletion...), runs
// plan() and states the actions, the conditions, the phase and the Events a user would see.
// The volume is parsed from a manifest by the real adapter, so defaults are the apiserver's.
import { epoch, nodeName, seq } from '@bunker/proto/ids';
import { parseReplicatedVolume, type ReplicatedVolume, type ReplicatedVolumeStatus } from '../api/index.js';
import { FINALIZER, type Action, type Plan } from './actions.js';
import type { AgentFacts, Observed, ObservedRole, ReplicaFacts, ReplicaReport, RoleName } from './observed.js';
import { plan } from './plan.js';

const NOW_MS = Date.parse('2030-01-01T00:00:00Z');
const NOW = new Date(NOW_MS).toISOString();
const NODES: Readonly<Record<RoleName, string>> = { primary: 'site-a', bunker: 'site-b', secondary: 'site-c' };
const ADDRESSES: Readonly<Record<RoleName, string>> = { primary: '10.0.0.1:7443', bunker: '10.0.0.2:7443', secondary: '10.0.0.3:7443' };

function volume(overrides: { status?: ReplicatedVolumeStatus; finalizers?: string[]; deleting?: boolean; spec?: object } = {}): ReplicatedVolume {
  return parseReplicatedVolume({
    apiVersion: 'replication.bunker.dev/v1alpha1',
    kind: 'ReplicatedVolume',
    metadata: {
      name: 'demo', namespace: 'apps', uid: '0b5c8f7e-1c1e-4b8e-9d0a-6f1f2f3a4b5c', resourceVersion: '42', generation: 3,
      finalizers: overrides.finalizers ?? [FINALIZER],
      ...(overrides.deleting === true ? { deletionTimestamp: NOW } : {}),
    },
    spec: {
      size: '256Mi',
      placement: { primary: { node: 'site-a' }, bunker: { node: 'site-b' }, secondary: { node: 'site-c' } },
      log: { size: '64Mi' },
      ...overrides.spec,
    },
    ...(overrides.status === undefined ? {} : { status: overrides.status }),
  });
}

const liveLease = (role: RoleName): Extract<AgentFacts, { kind: 'lease' }> => ({ kind: 'lease', grpcAddress: ADDRESSES[role], nbdHost: `10.0.0.${role === 'primary' ? 1 : role === 'bunker' ? 2 : 3}`, renewTimeMs: NOW_MS - 1_000, leaseDurationSeconds: 10 });

function report(role: RoleName, overrides: Partial<ReplicaReport> = {}): ReplicaFacts {
  return {
    kind: 'reported',
    report: {
      role, epoch: epoch(1), durableSeq: seq(120), appliedSeq: seq(120), health: 'Healthy', healthMessage: '',
      nbdAddress: role === 'primary' ? '10.0.0.1:10809' : '', bunkerDurableSeq: seq(role === 'primary' ? 120 : 0),
      secondaryDurableSeq: seq(role === 'primary' ? 100 : 0), secondaryLagBytes: role === 'primary' ? 81_920 : 0,
      secondaryLagSeconds: role === 'primary' ? 1.4 : 0, trackingChanges: false,
      ...overrides,
    },
  };
}

function role(name: RoleName, overrides: Partial<ObservedRole> = {}): ObservedRole {
  return {
    role: name, node: nodeName(NODES[name]), nodeFacts: { kind: 'present', ready: true, reason: 'KubeletReady' },
    agent: liveLease(name), replica: report(name), ...overrides,
  };
}

type RoleOverrides = Partial<Record<RoleName, Partial<ObservedRole>>>;

function observed(rv: ReplicatedVolume, roles: RoleOverrides = {}): Observed {
  return {
    nowMs: NOW_MS, volume: rv,
    roles: { primary: role('primary', roles.primary), bunker: role('bunker', roles.bunker), secondary: role('secondary', roles.secondary) },
  };
}

const recorded: ReplicatedVolumeStatus = { epoch: epoch(1) };
const nothingHeld: RoleOverrides = { primary: { replica: { kind: 'absent' } }, bunker: { replica: { kind: 'absent' } }, secondary: { replica: { kind: 'absent' } } };

function condition(result: Plan, type: string): { status: string; reason: string } | undefined {
  const found = result.status.conditions?.find((c) => c.type === type);
  return found === undefined ? undefined : { status: found.status, reason: found.reason };
}

function kinds(actions: readonly Action[]): string[] {
  return actions.map((action) => (action.kind === 'configure' ? `configure ${action.intent.role}@${action.node}` : action.kind === 'release' ? `release ${action.role}@${action.node}` : action.kind));
}

interface Row {
  readonly name: string;
  readonly world: Observed;
  readonly actions: readonly string[];
  readonly phase: string;
  readonly ready: string;
  readonly events?: readonly string[];
}

const rows: readonly Row[] = [
  {
    name: 'a new volume: the finalizer and epoch 1 are recorded first, no agent is configured yet',
    world: observed(volume({ finalizers: [] }), nothingHeld),
    actions: ['add-finalizer'], phase: 'Creating', ready: 'False/Configuring', events: ['Normal/EpochRecorded'],
  },
  {
    name: 'epoch recorded: the bunker and the secondary are configured, then the primary',
    world: observed(volume({ status: recorded }), nothingHeld),
    actions: ['configure bunker@site-b', 'configure secondary@site-c', 'configure primary@site-a', 'publish-endpoint'],
    phase: 'Creating', ready: 'False/Configuring', events: ['Normal/RoleConfigured', 'Normal/RoleConfigured', 'Normal/RoleConfigured'],
  },
  {
    name: 'followers configured by an earlier reconcile: only the primary is left',
    world: observed(volume({ status: recorded }), { primary: { replica: { kind: 'absent' } } }),
    actions: ['configure primary@site-a', 'publish-endpoint'], phase: 'Creating', ready: 'False/Configuring',
  },
  {
    name: 'a replica held in an older epoch is configured again in the recorded one',
    world: observed(volume({ status: { epoch: epoch(2) } }), {
      bunker: { replica: report('bunker', { epoch: epoch(2) }) }, secondary: { replica: report('secondary', { epoch: epoch(2) }) },
    }),
    actions: ['configure primary@site-a', 'publish-endpoint'], phase: 'Creating', ready: 'False/Configuring',
  },
  {
    name: 'the primary configured but not serving yet: nothing to do but wait',
    world: observed(volume({ status: recorded }), { primary: { replica: report('primary', { nbdAddress: '' }) } }),
    actions: ['publish-endpoint'], phase: 'Creating', ready: 'False/PrimaryNotServing',
  },
  {
    name: 'a placement node that does not exist: NodeNotFound, an Event, nothing configured',
    world: observed(volume({ status: recorded, spec: { placement: { primary: { node: 'site-x' }, bunker: { node: 'site-b' }, secondary: { node: 'site-c' } } } }), {
      ...nothingHeld,
      primary: { node: nodeName('site-x'), nodeFacts: { kind: 'missing' }, agent: { kind: 'no-lease' }, replica: { kind: 'not-asked' } },
    }),
    actions: ['publish-endpoint'], phase: 'Pending', ready: 'False/NodeNotFound', events: ['Warning/NodeNotFound'],
  },
  {
    name: 'a new volume on a missing node still records its epoch, and says why it waits',
    world: observed(volume({ finalizers: [] }), { ...nothingHeld, secondary: { nodeFacts: { kind: 'missing' }, agent: { kind: 'no-lease' }, replica: { kind: 'not-asked' } } }),
    actions: ['add-finalizer'], phase: 'Pending', ready: 'False/NodeNotFound', events: ['Warning/NodeNotFound', 'Normal/EpochRecorded'],
  },
  {
    name: 'a node that is not Ready: NodeNotReady',
    world: observed(volume({ status: recorded }), { bunker: { nodeFacts: { kind: 'present', ready: false, reason: 'KubeletNotReady' } } }),
    actions: ['publish-endpoint'], phase: 'Degraded', ready: 'False/NodeNotReady', events: ['Warning/NodeNotReady', 'Warning/Degraded'],
  },
  {
    name: 'no agent Lease on a node: AgentNotReporting, and no one is configured against it',
    world: observed(volume({ status: recorded }), { ...nothingHeld, bunker: { agent: { kind: 'no-lease' }, replica: { kind: 'not-asked' } } }),
    actions: ['configure secondary@site-c', 'publish-endpoint'], phase: 'Pending', ready: 'False/AgentNotReporting', events: ['Warning/AgentNotReporting', 'Normal/RoleConfigured'],
  },
  {
    name: 'an expired agent Lease: AgentNotReporting',
    world: observed(volume({ status: recorded }), {
      secondary: { agent: { ...liveLease('secondary'), renewTimeMs: NOW_MS - 30_000 }, replica: { kind: 'not-asked' } },
    }),
    actions: ['publish-endpoint'], phase: 'Degraded', ready: 'False/AgentNotReporting',
  },
  {
    name: 'an agent whose Status call fails: AgentUnreachable',
    world: observed(volume({ status: recorded }), { secondary: { replica: { kind: 'unreachable', code: 'Unavailable', message: 'connection refused' } } }),
    actions: ['publish-endpoint'], phase: 'Degraded', ready: 'False/AgentUnreachable',
  },
  {
    name: 'all healthy: Ready, with Replicating and RecoveryCopyInSync',
    world: observed(volume({ status: recorded })),
    actions: ['publish-endpoint'], phase: 'Ready', ready: 'True/VolumeReady', events: ['Normal/VolumeReady'],
  },
  {
    name: 'a primary whose log filled tracks changes: Degraded, not Replicating',
    world: observed(volume({ status: recorded }), { primary: { replica: report('primary', { trackingChanges: true }) } }),
    actions: ['publish-endpoint'], phase: 'Degraded', ready: 'False/TrackingChanges', events: ['Warning/TrackingChanges', 'Warning/Degraded'],
  },
  {
    name: 'a primary whose change log is full: Degraded, not Replicating, with what writes do meanwhile',
    world: observed(volume({ status: recorded }), { primary: { replica: report('primary', { logFull: true }) } }),
    actions: ['publish-endpoint'], phase: 'Degraded', ready: 'False/LogFull', events: ['Warning/LogFull', 'Warning/Degraded'],
  },
  {
    name: 'a primary whose data volume failed: Failed',
    world: observed(volume({ status: recorded }), { primary: { replica: report('primary', { health: 'DataFailed', healthMessage: 'EIO' }) } }),
    actions: ['publish-endpoint'], phase: 'Failed', ready: 'False/DataFailed',
  },
  {
    name: 'deletion with the finalizer: release on every agent, primary first, then drop the finalizer',
    world: observed(volume({ status: recorded, deleting: true })),
    actions: ['release primary@site-a', 'release secondary@site-c', 'release bunker@site-b', 'remove-finalizer'],
    phase: 'Deleting', ready: 'False/Deleting', events: ['Normal/Released'],
  },
  {
    name: 'deletion with a silent agent: its release is skipped with a Warning, the others go on',
    world: observed(volume({ status: recorded, deleting: true }), { bunker: { agent: { kind: 'no-lease' }, replica: { kind: 'not-asked' } } }),
    actions: ['release primary@site-a', 'release secondary@site-c', 'remove-finalizer'],
    phase: 'Deleting', ready: 'False/Deleting', events: ['Warning/ReleaseSkipped', 'Normal/Released'],
  },
];

describe('plan', () => {
  it.each(rows.map((row) => [row.name, row] as const))('%s', (_name, row) => {
    const result = plan(row.world);
    expect(kinds(result.actions)).toEqual(row.actions);
    expect(result.status.phase).toBe(row.phase);
    const ready = condition(result, 'Ready');
    expect(`${ready?.status}/${ready?.reason}`).toBe(row.ready);
    if (row.events !== undefined) expect(result.events.map((e) => `${e.type}/${e.reason}`)).toEqual(row.events);
  });

  it('records epoch 1 in status before any agent hears of it', () => {
    const result = plan(observed(volume({ finalizers: [] }), nothingHeld));
    expect(result.status.epoch).toBe(1);
    expect(result.actions.some((action) => action.kind === 'configure')).toBe(false);
    expect(result.status.observedGeneration).toBe(3);
  });

  it('gives each role its peers: followers learn the primary, the primary learns both followers', () => {
    const intents = plan(observed(volume({ status: recorded }), nothingHeld)).actions.flatMap((a) => (a.kind === 'configure' ? [a.intent] : []));
    expect(intents.map((intent) => [intent.role, intent.peers])).toEqual([
      ['bunker', { primary: { node: 'site-a', address: ADDRESSES.primary } }],
      ['secondary', { primary: { node: 'site-a', address: ADDRESSES.primary } }],
      ['primary', { bunker: { node: 'site-b', address: ADDRESSES.bunker }, secondary: { node: 'site-c', address: ADDRESSES.secondary } }],
    ]);
    expect(intents[2]).toMatchObject({
      volume: 'apps/demo', volumeUid: '0b5c8f7e-1c1e-4b8e-9d0a-6f1f2f3a4b5c', epoch: 1, sizeBytes: 256 * 1024 * 1024, logBytes: 64 * 1024 * 1024,
      recovery: 'sync', secondaryMode: 'async', fillPolicy: 'trackChanges', changeMapRegionBytes: 4096,
    });
  });

  it('all healthy: conditions, lag from the primary, roles and the published endpoint', () => {
    const result = plan(observed(volume({ status: recorded })));
    expect(['Ready', 'Replicating', 'RecoveryCopyInSync', 'Degraded'].map((type) => condition(result, type))).toEqual([
      { status: 'True', reason: 'VolumeReady' }, { status: 'True', reason: 'Replicating' },
      { status: 'True', reason: 'InSync' }, { status: 'False', reason: 'FullyProtected' },
    ]);
    expect(result.status.lag).toEqual({ entries: 20, bytes: 81_920, seconds: 1 });
    expect(result.status.currentPrimary).toBe('site-a');
    expect(result.status.roles?.primary).toEqual({ node: 'site-a', state: 'Serving', durableSeq: 120, appliedSeq: 120, health: 'Healthy', address: ADDRESSES.primary });
    expect(result.status.roles?.bunker).toEqual({ node: 'site-b', state: 'Replicating', durableSeq: 120, health: 'Healthy', address: ADDRESSES.bunker });
    expect(result.status.endpoint).toEqual({ service: 'demo', address: '10.0.0.1:10809' });
    expect(result.actions).toContainEqual({ kind: 'publish-endpoint', endpoint: { node: 'site-a', host: '10.0.0.1', port: 10809 } });
    expect(result.requeueAfterMs).toBeLessThanOrEqual(10_000);
  });

  it('a steady state raises no Event and keeps every lastTransitionTime', () => {
    const first = plan(observed(volume({ status: recorded })));
    const later = { ...observed(volume({ status: first.status })), nowMs: NOW_MS + 5_000 };
    const second = plan(later);
    expect(second.events).toEqual([]);
    expect(second.status.conditions?.map((c) => c.lastTransitionTime)).toEqual(first.status.conditions?.map((c) => c.lastTransitionTime));
  });

  it('recovery: none is Ready without a recovery copy in sync', () => {
    const result = plan(observed(volume({ status: recorded, spec: { replication: { recovery: 'none' } } })));
    expect(result.status.phase).toBe('Ready');
    expect(condition(result, 'RecoveryCopyInSync')).toEqual({ status: 'False', reason: 'RecoveryDisabled' });
    expect(condition(result, 'Degraded')).toEqual({ status: 'False', reason: 'FullyProtected' });
  });

  it('reclaimPolicy Delete asks the agents to delete the files', () => {
    const result = plan(observed(volume({ status: recorded, deleting: true, spec: { reclaimPolicy: 'Delete' } })));
    expect(result.actions.filter((a) => a.kind === 'release').every((a) => a.kind === 'release' && a.deleteData)).toBe(true);
  });

  it('a deleted volume without our finalizer is left alone', () => {
    const result = plan(observed(volume({ status: recorded, deleting: true, finalizers: ['someone.else/keep'] })));
    expect(result.actions).toEqual([]);
  });

  it('looks again just after the soonest agent Lease would expire', () => {
    const result = plan(observed(volume({ status: recorded }), { bunker: { agent: { ...liveLease('bunker'), renewTimeMs: NOW_MS - 9_000 } } }));
    expect(result.requeueAfterMs).toBe(1_100);
  });

  it('keeps the records it does not own, such as the last takeover', () => {
    const lastTakeover = {
      reason: 'TakeoverRequested', startedAt: NOW, finishedAt: NOW, durationSeconds: 3, fromNode: nodeName('site-c'), toNode: nodeName('site-a'),
      fromEpoch: epoch(1), toEpoch: epoch(2), entriesReplayed: 4, incompleteWritesApplied: 0, bytesDrained: 16384, acknowledgedWritesLost: 0,
    } as const;
    const result = plan(observed(volume({ status: { epoch: epoch(1), lastTakeover } })));
    expect(result.status.lastTakeover).toEqual(lastTakeover);
  });
});
