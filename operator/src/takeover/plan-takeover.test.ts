// Method: a volume's takeover walked step by step through plan(), each reconcile starting
// from the status the previous one wrote (as the operator does, level-triggered), plus rows
// for the ways a takeover is not started: grace period, manual mode, a refusal, a primary
// that never served. The worlds are the ones plan.test.ts uses: three Ready nodes, live agents.
import { epoch, nodeName, seq } from '@bunker/proto/ids';
import { parseReplicatedVolume, type ReplicatedVolume, type ReplicatedVolumeStatus } from '../api/index.js';
import { FINALIZER, type Action, type Plan } from '../reconcile/actions.js';
import type { AgentFacts, Observed, ObservedRole, ReplicaFacts, ReplicaReport, RoleName } from '../reconcile/observed.js';
import { plan } from '../reconcile/plan.js';
import { statusAfterDrain } from './drain-result.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const ADDRESS: Readonly<Record<string, string>> = { 'site-a': '10.0.0.1:7443', 'site-b': '10.0.0.2:7443', 'site-c': '10.0.0.3:7443', 'site-d': '10.0.0.4:7443' };
const HOST: Readonly<Record<string, string>> = { 'site-a': '10.0.0.1', 'site-b': '10.0.0.2', 'site-c': '10.0.0.3', 'site-d': '10.0.0.4' };

function volume(status: ReplicatedVolumeStatus | undefined, spec: object = {}): ReplicatedVolume {
  return parseReplicatedVolume({
    apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume',
    metadata: { name: 'demo', namespace: 'apps', uid: '0b5c8f7e-1c1e-4b8e-9d0a-6f1f2f3a4b5c', resourceVersion: '42', generation: 1, finalizers: [FINALIZER] },
    spec: {
      size: '256Mi', placement: { primary: { node: 'site-a' }, bunker: { node: 'site-b' }, secondary: { node: 'site-c' } }, log: { size: '64Mi' },
      failover: { gracePeriodSeconds: 2 }, ...spec,
    },
    ...(status === undefined ? {} : { status }),
  });
}

function report(role: RoleName | 'none', at: number, overrides: Partial<ReplicaReport> = {}): ReplicaFacts {
  return {
    kind: 'reported',
    report: {
      role, epoch: epoch(at), durableSeq: seq(120), appliedSeq: seq(120), health: 'Healthy', healthMessage: '', nbdAddress: role === 'primary' ? '10.0.0.9:10809' : '',
      bunkerDurableSeq: seq(120), secondaryDurableSeq: seq(100), secondaryLagBytes: 0, secondaryLagSeconds: 0, trackingChanges: false, firstSeq: seq(1), ...overrides,
    },
  };
}

const lease = (node: string, nowMs: number): Extract<AgentFacts, { kind: 'lease' }> => ({ kind: 'lease', grpcAddress: ADDRESS[node] ?? '', nbdHost: HOST[node] ?? '', renewTimeMs: nowMs - 1_000, leaseDurationSeconds: 10 });

interface NodeWorld { readonly ready?: boolean; readonly dead?: boolean; readonly replica: ReplicaFacts }

/** The roles as status places them (spec placement for a new volume), each node's facts from `nodes`. */
function world(rv: ReplicatedVolume, nowMs: number, nodes: Readonly<Record<string, NodeWorld>>): Observed {
  const role = (name: RoleName): ObservedRole => {
    const node = rv.status?.roles?.[name]?.node ?? rv.spec.placement[name].node;
    const facts = nodes[node] ?? { replica: { kind: 'absent' } };
    return {
      role: name, node: nodeName(node), nodeFacts: { kind: 'present', ready: facts.ready ?? true, reason: facts.ready === false ? 'NodeStatusUnknown' : 'KubeletReady' },
      agent: facts.dead === true ? { ...lease(node, nowMs), renewTimeMs: nowMs - 30_000 } : lease(node, nowMs),
      replica: facts.dead === true ? { kind: 'not-asked' } : facts.replica,
    };
  };
  return { nowMs, volume: rv, roles: { primary: role('primary'), bunker: role('bunker'), secondary: role('secondary') } };
}

const healthy = (at = 1): Record<string, NodeWorld> => ({
  'site-a': { replica: report('primary', at, { nbdAddress: '10.0.0.1:10809' }) },
  'site-b': { replica: report('bunker', at) },
  'site-c': { replica: report('secondary', at, { durableSeq: seq(100), appliedSeq: seq(100) }) },
});

function kinds(actions: readonly Action[]): string[] {
  return actions.map((action) => {
    switch (action.kind) {
      case 'configure': return `configure ${action.intent.role}@${action.node} e${action.intent.epoch}`;
      case 'drain': return `drain ${action.bunker.node}->${action.node} e${action.epoch}`;
      default: return action.kind;
    }
  });
}

const reasons = (result: Plan): string[] => result.events.map((event) => `${event.type}/${event.reason}`);
const cond = (status: ReplicatedVolumeStatus, type: string): string | undefined => {
  const found = status.conditions?.find((c) => c.type === type);
  return found === undefined ? undefined : `${found.status}/${found.reason}`;
};

/** A volume that served: epoch 1 and the status a healthy reconcile wrote. */
function served(spec: object = {}): ReplicatedVolumeStatus {
  return plan(world(volume({ epoch: epoch(1) }, spec), T0 - 60_000, healthy())).status;
}

describe('takeover, step by step', () => {
  const nodeLost = (nodes: Record<string, NodeWorld>): Record<string, NodeWorld> => ({ ...nodes, 'site-a': { ready: false, replica: { kind: 'unreachable', code: 'Unavailable', message: 'down' } } });

  it('detects, waits out the grace period, fences, drains, promotes and records', () => {
    // 1. The primary's node goes NotReady: PrimaryFailed is recorded, nothing else yet.
    let status = served();
    expect(cond(status, 'PrimaryFailed')).toBe('False/PrimaryHealthy');
    let result = plan(world(volume(status), T0, nodeLost(healthy())));
    expect(cond(result.status, 'PrimaryFailed')).toBe('True/NodeNotReady');
    expect(result.status.takeover).toBeUndefined();
    expect(result.requeueAfterMs).toBeLessThanOrEqual(500);
    status = result.status;

    // 2. Still within the 2 s grace period: wait.
    result = plan(world(volume(status), T0 + 1_500, nodeLost(healthy())));
    expect(result.status.takeover).toBeUndefined();
    expect(result.status.epoch).toBe(1);

    // 3. Past it: epoch 2 and the fence are written to status first, no agent is touched.
    result = plan(world(volume(status), T0 + 2_100, nodeLost(healthy())));
    expect(kinds(result.actions)).toEqual([]);
    expect(result.status).toMatchObject({ phase: 'FailingOver', epoch: 2, targetPrimary: 'site-c' });
    expect(result.status.takeover).toMatchObject({ step: 'fence', reason: 'NodeNotReady', fromNode: 'site-a', targetNode: 'site-c', fromEpoch: 1, toEpoch: 2 });
    expect(cond(result.status, 'FailingOver')).toBe('True/NodeNotReady');
    expect(reasons(result)).toContain('Warning/TakeoverStarted');
    status = result.status;

    // 4. Fence the bunker in epoch 2 (following site-c), then drain into site-c.
    result = plan(world(volume(status), T0 + 2_300, nodeLost(healthy())));
    expect(kinds(result.actions)).toEqual(['configure bunker@site-b e2', 'drain site-b->site-c e2']);
    const fence = result.actions[0];
    expect(fence?.kind === 'configure' ? fence.intent.peers : undefined).toEqual({ primary: { node: 'site-c', address: ADDRESS['site-c'] } });
    expect(result.status.takeover?.step).toBe('fence');
    expect(reasons(result)).toEqual(expect.arrayContaining(['Normal/TakeoverFenced', 'Normal/TakeoverDrained']));

    // The drain ends: its figures go to status.takeover (what reconcile does after apply).
    status = statusAfterDrain(result.status, { appliedSeq: 120, targetSeq: 120, entriesReplayed: 20, bytesReplayed: 81_920, incompleteWritesApplied: 3, done: true });
    expect(status.takeover).toMatchObject({ step: 'promote', entriesReplayed: 20, incompleteWritesApplied: 3, bytesDrained: 81_920, entriesLeft: 0 });

    // 5. The target is promoted and serves: record, move the roles, point the Service at it.
    const promoted = { ...nodeLost(healthy()), 'site-b': { replica: report('bunker', 2) }, 'site-c': { replica: report('primary', 2, { nbdAddress: '10.0.0.3:10809' }) } };
    result = plan(world(volume(status), T0 + 3_000, promoted));
    expect(result.actions).toEqual([{ kind: 'publish-endpoint', endpoint: { node: 'site-c', host: '10.0.0.3', port: 10809 } }]);
    expect(result.status.takeover).toBeUndefined();
    expect(result.status).toMatchObject({ currentPrimary: 'site-c', targetPrimary: 'site-c', epoch: 2, endpoint: { service: 'demo', address: '10.0.0.3:10809' } });
    expect(result.status.roles).toMatchObject({ primary: { node: 'site-c', state: 'Serving' }, bunker: { node: 'site-b' }, secondary: { node: 'site-a', state: 'Fenced' } });
    expect(result.status.lastTakeover).toEqual({
      reason: 'NodeNotReady', startedAt: new Date(T0 + 2_100).toISOString(), finishedAt: new Date(T0 + 3_000).toISOString(), durationSeconds: 0.9,
      fromNode: 'site-a', toNode: 'site-c', fromEpoch: 1, toEpoch: 2, entriesReplayed: 20, incompleteWritesApplied: 3, bytesDrained: 81_920, acknowledgedWritesLost: 0,
    });
    expect(cond(result.status, 'FailingOver')).toBe('False/TakeoverCompleted');
    expect(reasons(result)).toContain('Normal/TakeoverCompleted');
    status = result.status;

    // 6. Afterwards status, not spec.placement, says who is primary; the old primary stays
    //    fenced while its node is away, and the new primary is not taken over from its
    //    fenced predecessor.
    result = plan(world(volume(status), T0 + 4_000, promoted));
    expect(result.status.currentPrimary).toBe('site-c');
    expect(kinds(result.actions)).toEqual(['publish-endpoint']);
    expect(result.status.roles?.secondary).toMatchObject({ node: 'site-a', state: 'Fenced' });
    expect(result.status.resync).toMatchObject({ state: 'Pending', sourceNode: 'site-c', targetNode: 'site-a' });

    // 7. Failback: the old primary comes back (still primary of epoch 1): it is fenced to none
    //    in epoch 2 before anything else, so it never serves again on its own.
    const back = { ...promoted, 'site-a': { replica: report('primary', 1, { nbdAddress: '10.0.0.1:10809' }) } };
    result = plan(world(volume(result.status), T0 + 5_000, back));
    expect(kinds(result.actions)).toEqual(['configure none@site-a e2', 'publish-endpoint']);
    expect(result.status.roles?.secondary).toMatchObject({ node: 'site-a', state: 'Fenced' });
    expect(result.status.takeover).toBeUndefined();
    expect(reasons(result)).toContain('Normal/FailbackFenced');
    status = result.status;

    // 8. Fenced: the resync is started (and asked again every reconcile: it is idempotent).
    const resync = (state: 'running' | 'verifying' | 'finished' | 'failed', done: number): NonNullable<ReplicaReport['resync']> => ({
      state, full: false, sourceNode: 'site-c', epoch: epoch(2), regionsTotal: 100, regionsDone: done, bytesTotal: 409_600, bytesDone: done * 4096,
      bytesCopied: done * 1024, bytesSkipped: done * 3072, rateBytesPerSecond: 40_960, baseSeq: seq(120), message: state, startedAtMs: T0 + 5_500, finishedAtMs: state === 'finished' ? T0 + 9_000 : 0,
    });
    const at = (replica: ReplicaFacts): Record<string, NodeWorld> => ({ ...promoted, 'site-a': { replica } });
    result = plan(world(volume(status), T0 + 6_000, at(report('none', 2))));
    expect(kinds(result.actions)).toEqual(['resync', 'publish-endpoint']);
    expect(result.actions[0]).toMatchObject({ kind: 'resync', node: 'site-a', epoch: 2, source: { node: 'site-c', address: ADDRESS['site-c'] }, bytesPerSecondMax: 100 * 1024 * 1024 });
    expect(result.status).toMatchObject({ phase: 'Resyncing', resync: { state: 'Running', targetNode: 'site-a' } });
    expect(cond(result.status, 'Resyncing')).toBe('True/ResyncRunning');
    status = result.status;
    result = plan(world(volume(status), T0 + 7_000, at(report('none', 2, { resync: resync('running', 50) }))));
    expect(result.status.resync).toMatchObject({ state: 'Running', regionsDone: 50, regionsTotal: 100, bytesCopied: 51_200, bytesSkipped: 153_600, rateBytesPerSecond: 40_960, etaSeconds: 5 });
    status = result.status;

    // 9. Copied: it follows as secondary and verifies; the primary is told its secondary.
    result = plan(world(volume(status), T0 + 8_000, at(report('secondary', 2, { resync: resync('verifying', 100) }))));
    expect(kinds(result.actions)).toEqual(['resync', 'configure primary@site-c e2', 'publish-endpoint']);
    const connect = result.actions[1];
    expect(connect?.kind === 'configure' ? connect.intent.peers.secondary : undefined).toEqual({ node: 'site-a', address: ADDRESS['site-a'] });
    expect(connect?.kind === 'configure' ? connect.intent.clearChangeMap : undefined).toBeUndefined();
    expect(cond(result.status, 'Resyncing')).toBe('True/ResyncVerifying');
    status = result.status;

    // 10. Verified: the primary forgets its change map; the volume is protected again.
    result = plan(world(volume(status), T0 + 9_500, at(report('secondary', 2, { resync: resync('finished', 100) }))));
    expect(kinds(result.actions)).toEqual(['configure primary@site-c e2', 'publish-endpoint']);
    const clear = result.actions[0];
    expect(clear?.kind === 'configure' ? clear.intent.clearChangeMap : undefined).toBe(true);
    expect(result.status.resync).toMatchObject({ state: 'Finished', bytesCopied: 102_400, finishedAt: new Date(T0 + 9_000).toISOString() });
    expect(cond(result.status, 'Resyncing')).toBe('False/ResyncFinished');
    expect(reasons(result)).toContain('Normal/FailbackCompleted');
    status = result.status;
    result = plan(world(volume(status), T0 + 10_000, at(report('secondary', 2, { resync: resync('finished', 100) }))));
    expect(kinds(result.actions)).toEqual(['publish-endpoint']);
    expect(result.status.resync?.state).toBe('Finished');
  });

  it('a failback whose verification failed fences the replica again and copies again', () => {
    const status = served();
    const last = { reason: 'NodeNotReady' as const, startedAt: new Date(T0).toISOString(), finishedAt: new Date(T0 + 1_000).toISOString(), durationSeconds: 1, fromNode: nodeName('site-a'), toNode: nodeName('site-c'), fromEpoch: epoch(1), toEpoch: epoch(2), entriesReplayed: 0, incompleteWritesApplied: 0, bytesDrained: 0, acknowledgedWritesLost: 0 };
    const after: ReplicatedVolumeStatus = {
      ...status, epoch: epoch(2), currentPrimary: nodeName('site-c'), lastTakeover: last,
      roles: { primary: { node: nodeName('site-c') }, bunker: { node: nodeName('site-b') }, secondary: { node: nodeName('site-a') } },
      resync: { state: 'Verifying', scope: 'Changed', sourceNode: nodeName('site-c'), targetNode: nodeName('site-a'), startedAt: new Date(T0 + 2_000).toISOString() },
    };
    const failed = report('secondary', 2, {
      resync: { state: 'failed', full: false, sourceNode: 'site-c', epoch: epoch(2), regionsTotal: 1, regionsDone: 1, bytesTotal: 4096, bytesDone: 4096, bytesCopied: 4096, bytesSkipped: 0, rateBytesPerSecond: 0, baseSeq: seq(5), message: 'verification failed: 1 block(s) differ', startedAtMs: T0 + 2_000, finishedAtMs: T0 + 3_000 },
    });
    const nodes = { 'site-a': { replica: failed }, 'site-b': { replica: report('bunker', 2) }, 'site-c': { replica: report('primary', 2, { nbdAddress: '10.0.0.3:10809' }) } };
    const result = plan(world(volume(after), T0 + 4_000, nodes));
    expect(kinds(result.actions)).toEqual(['configure none@site-a e2', 'publish-endpoint']);
    expect(result.status.resync?.state).toBe('Pending');
    expect(result.status.resync?.message).toMatch(/verification failed/);
  });

  it('a restarted operator resumes from status alone: the target already promoted is recorded, not drained again', () => {
    const status = served();
    const fenced = plan(world(volume({ ...status, conditions: (status.conditions ?? []).map((c) => (c.type === 'PrimaryFailed' ? { ...c, status: 'True', reason: 'NodeNotReady', lastTransitionTime: new Date(T0 - 5_000).toISOString() } : c)) }), T0, nodeLost(healthy()))).status;
    expect(fenced.takeover?.step).toBe('fence');
    const promoted = { ...nodeLost(healthy()), 'site-b': { replica: report('bunker', 2) }, 'site-c': { replica: report('primary', 2, { nbdAddress: '10.0.0.3:10809', appliedSeq: seq(120) }) } };
    const result = plan(world(volume(fenced), T0 + 1_000, promoted));
    expect(result.status.lastTakeover).toMatchObject({ toNode: 'site-c', acknowledgedWritesLost: 0, entriesReplayed: 0 });
    expect(kinds(result.actions)).toEqual(['publish-endpoint']);
  });

  it('a data volume failure needs no grace period', () => {
    const status = served();
    const failed = { ...healthy(), 'site-a': { replica: report('primary', 1, { health: 'DataFailed', healthMessage: 'EIO', nbdAddress: '10.0.0.1:10809' }) } };
    const first = plan(world(volume(status), T0, failed));
    expect(first.status.takeover).toMatchObject({ step: 'fence', reason: 'VolumeFailed' });
  });

  it('an expired agent Lease is a failure of its own name', () => {
    const status = served();
    const dead = { ...healthy(), 'site-a': { dead: true, replica: { kind: 'not-asked' } as const } };
    expect(cond(plan(world(volume(status), T0, dead)).status, 'PrimaryFailed')).toBe('True/AgentLeaseExpired');
  });
});

describe('takeovers not started', () => {
  const lostFor = (status: ReplicatedVolumeStatus, ms: number): ReplicatedVolumeStatus => ({
    ...status,
    conditions: (status.conditions ?? []).map((c) => (c.type === 'PrimaryFailed' ? { ...c, status: 'True', reason: 'NodeNotReady', lastTransitionTime: new Date(T0 - ms).toISOString() } : c)),
  });
  const down = (nodes: Record<string, NodeWorld>): Record<string, NodeWorld> => ({ ...nodes, 'site-a': { ready: false, replica: { kind: 'unreachable', code: 'Unavailable', message: 'down' } } });

  it('manual mode waits for a request, then takes over for it', () => {
    const spec = { failover: { mode: 'manual', gracePeriodSeconds: 2 } };
    const status = lostFor(served(spec), 60_000);
    expect(plan(world(volume(status, spec), T0, down(healthy()))).status.takeover).toBeUndefined();
    const requested = { ...spec, takeover: { requestId: 'r-1' } };
    const result = plan(world(volume(status, requested), T0, down(healthy())));
    expect(result.status.takeover).toMatchObject({ step: 'fence', reason: 'TakeoverRequested', requestId: 'r-1' });
  });

  it('a request already recorded in lastTakeover is not acted on again', () => {
    const lastTakeover = {
      reason: 'TakeoverRequested', requestId: 'r-1', startedAt: new Date(T0).toISOString(), finishedAt: new Date(T0).toISOString(), durationSeconds: 1,
      fromNode: nodeName('site-c'), toNode: nodeName('site-a'), fromEpoch: epoch(0), toEpoch: epoch(1), entriesReplayed: 0, incompleteWritesApplied: 0, bytesDrained: 0, acknowledgedWritesLost: 0,
    } as const;
    const manual = { failover: { mode: 'manual', gracePeriodSeconds: 2 } };
    const spec = { ...manual, takeover: { requestId: 'r-1' } };
    const result = plan(world(volume({ ...served(manual), lastTakeover }, spec), T0, healthy()));
    expect(result.status.takeover).toBeUndefined();
    expect(result.status.lastRefusal).toBeUndefined();
  });

  it('refuses when the bunker is lost too and the secondary lags: lastRefusal and one Event', () => {
    const status = lostFor(served(), 60_000);
    const both = { ...down(healthy()), 'site-b': { ready: false, replica: { kind: 'unreachable', code: 'Unavailable', message: 'down' } as const } };
    const first = plan(world(volume(status), T0, both));
    expect(first.status.takeover).toBeUndefined();
    expect(first.status.epoch).toBe(1);
    expect(first.status.lastRefusal).toMatchObject({ rule: 'bunker-unreachable', reason: 'TakeoverRefused' });
    expect(reasons(first)).toContain('Warning/TakeoverRefused');
    const again = plan(world(volume(first.status), T0 + 1_000, both));
    expect(again.status.lastRefusal).toEqual(first.status.lastRefusal);
    expect(reasons(again)).not.toContain('Warning/TakeoverRefused');
  });

  it('a primary that never served is not taken over', () => {
    const result = plan(world(volume({ epoch: epoch(1) }), T0, down({ ...healthy(), 'site-c': { replica: { kind: 'absent' } } })));
    expect(result.status.takeover).toBeUndefined();
    expect(cond(result.status, 'PrimaryFailed')).toBeUndefined();
  });
});

describe('migration (spec.migrate)', () => {
  const migrate = { migrate: { requestId: 'move-1', targetNode: 'site-c' } };

  it('quiesces the old primary, drains into the target, swaps in a new epoch and records the pause', () => {
    let status = served();
    let result = plan(world(volume(status, migrate), T0, healthy()));
    expect(result.status).toMatchObject({ phase: 'Migrating', epoch: 2, targetPrimary: 'site-c', handledRequests: { migrate: 'move-1' } });
    expect(result.status.migration).toMatchObject({ requestId: 'move-1', step: 'quiesce', fromNode: 'site-a', targetNode: 'site-c', fromEpoch: 1, toEpoch: 2 });
    expect(result.status.takeover).toMatchObject({ reason: 'MigrationRequested', requestId: 'move-1', step: 'fence' });
    expect(reasons(result)).toContain('Normal/MigrationStarted');
    status = result.status;

    result = plan(world(volume(status, migrate), T0 + 200, healthy()));
    expect(kinds(result.actions)).toEqual(['configure none@site-a e2', 'configure bunker@site-b e2', 'drain site-b->site-c e2']);
    expect(reasons(result)).toContain('Normal/MigrationQuiesced');
    status = statusAfterDrain(result.status, { appliedSeq: 120, targetSeq: 120, entriesReplayed: 0, bytesReplayed: 0, incompleteWritesApplied: 0, done: true });

    const swapped = { 'site-a': { replica: report('none', 2) }, 'site-b': { replica: report('bunker', 2) }, 'site-c': { replica: report('primary', 2, { nbdAddress: '10.0.0.3:10809' }) } };
    result = plan(world(volume(status, migrate), T0 + 1_500, swapped));
    expect(result.status.migration).toBeUndefined();
    expect(result.status.lastMigration).toMatchObject({ requestId: 'move-1', fromNode: 'site-a', toNode: 'site-c', fromEpoch: 1, toEpoch: 2, pauseSeconds: 1.5, acknowledgedWritesLost: 0 });
    expect(reasons(result)).toContain('Normal/MigrationCompleted');
    status = result.status;

    // The old primary is resynchronized like any returning one; the request is not acted on again.
    result = plan(world(volume(status, migrate), T0 + 2_000, swapped));
    expect(kinds(result.actions)).toEqual(['resync', 'publish-endpoint']);
    expect(result.status.takeover).toBeUndefined();
  });

  it('waits, with one Event, while the target is not a following secondary', () => {
    const status = served();
    const lagging = { ...healthy(), 'site-c': { dead: true, replica: { kind: 'not-asked' } as const } };
    const result = plan(world(volume(status, migrate), T0, lagging));
    expect(result.status.takeover).toBeUndefined();
    expect(result.status.lastRefusal).toMatchObject({ rule: 'migrate-target-unreachable', reason: 'MigrationWaiting', requestId: 'move-1' });
    expect(reasons(result)).toContain('Warning/MigrationWaiting');
    const again = plan(world(volume(result.status, migrate), T0 + 1_000, lagging));
    expect(reasons(again)).not.toContain('Warning/MigrationWaiting');
  });

  it('a migration to the primary itself is handled as done', () => {
    const result = plan(world(volume(served(), { migrate: { requestId: 'noop', targetNode: 'site-a' } }), T0, healthy()));
    expect(result.status.handledRequests?.migrate).toBe('noop');
    expect(reasons(result)).toContain('Normal/MigrationNotNeeded');
  });
});

describe('losing the bunker (spec.replication.onBunkerLoss)', () => {
  const bunkerLost = (nodes: Record<string, NodeWorld>): Record<string, NodeWorld> => ({ ...nodes, 'site-b': { ready: false, replica: { kind: 'unreachable', code: 'Unavailable', message: 'down' } } });
  const recoveryOf = (actions: readonly Action[]): string | undefined => {
    const found = actions.find((action) => action.kind === 'configure' && action.intent.role === 'primary');
    return found?.kind === 'configure' ? found.intent.recovery : undefined;
  };
  const degrade = { replication: { onBunkerLoss: 'degrade' } };

  it('degrade: after the grace period the primary stops waiting for the bunker, visibly, and returns to sync once it caught up', () => {
    let status = served(degrade);
    let result = plan(world(volume(status, degrade), T0, bunkerLost(healthy())));
    expect(recoveryOf(result.actions)).toBeUndefined();
    expect(cond(result.status, 'RecoveryCopyInSync')).toBe('False/NodeNotReady');
    status = result.status;

    result = plan(world(volume(status, degrade), T0 + 2_500, bunkerLost(healthy())));
    expect(recoveryOf(result.actions)).toBe('none');
    expect(cond(result.status, 'RecoveryCopyInSync')).toBe('False/DegradedToAsync');
    expect(cond(result.status, 'Degraded')).toBe('True/DegradedToAsync');
    expect(reasons(result)).toContain('Warning/DegradedToAsync');
    status = result.status;

    // Still degraded: the mode is told again (idempotent), no new Event.
    result = plan(world(volume(status, degrade), T0 + 3_000, bunkerLost(healthy())));
    expect(recoveryOf(result.actions)).toBe('none');
    expect(reasons(result)).not.toContain('Warning/DegradedToAsync');

    // A takeover now could lose acknowledged writes: refused without allowDataLoss.
    const primaryLost = { ...bunkerLost(healthy()), 'site-a': { ready: false, replica: { kind: 'unreachable', code: 'Unavailable', message: 'down' } } } as Record<string, NodeWorld>;
    const failed = plan(world(volume(status, degrade), T0 + 3_500, primaryLost));
    const refused = plan(world(volume(failed.status, degrade), T0 + 6_000, primaryLost));
    expect(refused.status.takeover).toBeUndefined();
    expect(refused.status.lastRefusal?.rule).toBe('recovery-none-may-lose-writes');

    // The bunker is back but behind: still degraded; once it holds everything: sync again.
    const behind = { ...healthy(), 'site-a': { replica: report('primary', 1, { nbdAddress: '10.0.0.1:10809', durableSeq: seq(200), bunkerDurableSeq: seq(150) }) } };
    result = plan(world(volume(status, degrade), T0 + 7_000, behind));
    expect(recoveryOf(result.actions)).toBe('none');
    expect(cond(result.status, 'RecoveryCopyInSync')).toBe('False/DegradedToAsync');
    status = result.status;
    const caughtUp = { ...healthy(), 'site-a': { replica: report('primary', 1, { nbdAddress: '10.0.0.1:10809', durableSeq: seq(200), bunkerDurableSeq: seq(200) }) } };
    result = plan(world(volume(status, degrade), T0 + 8_000, caughtUp));
    expect(recoveryOf(result.actions)).toBe('sync');
    expect(reasons(result)).toContain('Normal/RecoveryRestored');
    expect(cond(result.status, 'RecoveryCopyInSync')).toBe('True/InSync');
    result = plan(world(volume(result.status, degrade), T0 + 9_000, caughtUp));
    expect(recoveryOf(result.actions)).toBeUndefined();
  });

  it('block (the default): writes keep waiting, nothing is reconfigured, and status says why', () => {
    let status = served();
    status = plan(world(volume(status), T0, bunkerLost(healthy()))).status;
    const result = plan(world(volume(status), T0 + 10_000, bunkerLost(healthy())));
    expect(recoveryOf(result.actions)).toBeUndefined();
    expect(cond(result.status, 'RecoveryCopyInSync')).toBe('False/NodeNotReady');
    expect(cond(result.status, 'Degraded')).toBe('True/NodeNotReady');
  });
});

describe('re-protection on a spare (spec.placement.spares)', () => {
  const withSpare = { placement: { primary: { node: 'site-a' }, bunker: { node: 'site-b' }, secondary: { node: 'site-c' }, spares: ['site-e', 'site-d'] } };
  const secondaryLost = (nodes: Record<string, NodeWorld>): Record<string, NodeWorld> => ({ ...nodes, 'site-c': { ready: false, replica: { kind: 'unreachable', code: 'Unavailable', message: 'down' } } });
  const observedWithSpare = (status: ReplicatedVolumeStatus, nowMs: number, nodes: Record<string, NodeWorld>): Observed => ({
    ...world(volume(status, withSpare), nowMs, nodes),
    spares: [
      { node: nodeName('site-e'), nodeFacts: { kind: 'present', ready: false, reason: 'NodeStatusUnknown' }, agent: lease('site-e', nowMs) },
      { node: nodeName('site-d'), nodeFacts: { kind: 'present', ready: true, reason: 'KubeletReady' }, agent: lease('site-d', nowMs) },
    ],
  });

  it('moves a secondary gone for three grace periods to the first usable spare, which is then copied in full', () => {
    let status = served(withSpare);
    status = plan(observedWithSpare(status, T0, secondaryLost(healthy()))).status;
    expect(cond(status, 'Replicating')).toBe('False/NodeNotReady');
    let result = plan(observedWithSpare(status, T0 + 5_000, secondaryLost(healthy())));
    expect(result.status.roles?.secondary?.node).toBe('site-c');

    result = plan(observedWithSpare(status, T0 + 6_100, secondaryLost(healthy())));
    expect(result.status.roles?.secondary).toMatchObject({ node: 'site-d', state: 'Pending' });
    expect(result.status.resync).toMatchObject({ state: 'Pending', scope: 'Full', sourceNode: 'site-a', targetNode: 'site-d' });
    expect(reasons(result)).toContain('Warning/SecondaryReplaced');
    status = result.status;

    // The spare holds nothing yet: fenced (role none, creating the volume there), then copied.
    const withD = { ...secondaryLost(healthy()), 'site-d': { replica: { kind: 'absent' } as const } };
    result = plan(observedWithSpare(status, T0 + 6_500, withD));
    expect(kinds(result.actions)).toEqual(['configure none@site-d e1', 'publish-endpoint']);
    result = plan(observedWithSpare(result.status, T0 + 7_000, { ...withD, 'site-d': { replica: report('none', 1) } }));
    expect(kinds(result.actions)).toEqual(['resync', 'publish-endpoint']);
    expect(cond(result.status, 'Resyncing')).toBe('True/ResyncRunning');
  });

  it('replaces a lost bunker with the spare: its log copy starts where the secondary stands, and the primary is told', () => {
    const bunkerLost = (nodes: Record<string, NodeWorld>): Record<string, NodeWorld> => ({ ...nodes, 'site-b': { ready: false, replica: { kind: 'unreachable', code: 'Unavailable', message: 'down' } } });
    const primaryPeers = (bunkerPeer: string): Record<string, NodeWorld> => ({ 'site-a': { replica: report('primary', 1, { nbdAddress: '10.0.0.1:10809', bunkerPeer, secondaryPeer: 'site-c' }) } });
    let status = served(withSpare);
    status = plan(observedWithSpare(status, T0, bunkerLost(healthy()))).status;
    let result = plan(observedWithSpare(status, T0 + 6_100, bunkerLost(healthy())));
    expect(result.status.roles?.bunker).toMatchObject({ node: 'site-d', state: 'Pending' });
    expect(reasons(result)).toContain('Warning/BunkerReplaced');
    status = result.status;

    const fresh = { ...bunkerLost(healthy()), ...primaryPeers('site-b'), 'site-d': { replica: { kind: 'absent' } as const } };
    result = plan(observedWithSpare(status, T0 + 6_500, fresh));
    expect(kinds(result.actions)).toEqual(['configure bunker@site-d e1', 'publish-endpoint']);
    const started = result.actions[0];
    expect(started?.kind === 'configure' ? started.intent.resetLogToSeq : undefined).toBe(100);

    const following = { ...fresh, 'site-d': { replica: report('bunker', 1) } };
    result = plan(observedWithSpare(result.status, T0 + 7_000, following));
    expect(kinds(result.actions)).toEqual(['configure primary@site-a e1', 'publish-endpoint']);
    const told = result.actions[0];
    expect(told?.kind === 'configure' ? told.intent.peers.bunker : undefined).toEqual({ node: 'site-d', address: ADDRESS['site-d'] });
    result = plan(observedWithSpare(result.status, T0 + 7_500, { ...following, ...primaryPeers('site-d') }));
    expect(kinds(result.actions)).toEqual(['publish-endpoint']);
  });

  it('does nothing without a usable spare', () => {
    let status = served();
    status = plan(world(volume(status), T0, secondaryLost(healthy()))).status;
    const result = plan(world(volume(status), T0 + 60_000, secondaryLost(healthy())));
    expect(result.status.roles?.secondary?.node).toBe('site-c');
    expect(result.status.resync).toBeUndefined();
  });
});
