// Method: the reconcile loop run against a small in-memory world, and the state of that
// world checked afterwards. Fault model of the world: the stored volume has a resourceVersion
// that every write bumps and every write must quote (a stale one is a 409, as the apiserver
// answers); the informer cache may lag behind the store; an agent may refuse Configure with
// a stable code. It is not an apiserver: only the behaviour reconcile() relies on.
import { ApiException, type V1Lease, type V1Node } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Health, Role, type ConfigureRequest, type StatusResponse, type VolumeStatus } from '@bunker/proto';
import { BunkerError } from '@bunker/proto/bunker-error';
import { microTime } from '@bunker/proto/micro-time';
import { parseReplicatedVolume, type ReplicatedVolume, type ReplicatedVolumeStatus } from '../api/index.js';
import type { AgentPort } from '../agents/agent-port.js';
import { GRPC_ADDRESS_ANNOTATION, NBD_HOST_ANNOTATION, agentLeaseName } from '../discovery/agent-lease.js';
import { KubeApiError } from '../kube/api-errors.js';
import type { EventSpec, NbdEndpoint } from './actions.js';
import { reconcile, type ReconcileDeps } from './reconcile.js';

const NOW_MS = Date.parse('2030-01-01T00:00:00Z');
const SITES = ['site-a', 'site-b', 'site-c'];
const addressOf = (node: string): string => `10.0.0.${SITES.indexOf(node) + 1}:7443`;

class World {
  stored: Record<string, unknown>;
  /** What the informer cache holds; `sync()` catches it up with the store. */
  cached: Record<string, unknown>;
  private version = 1;
  readonly held = new Map<string, Map<string, VolumeStatus>>(SITES.map((node) => [addressOf(node), new Map()]));
  readonly events: EventSpec[] = [];
  endpoint: NbdEndpoint | null = null;
  refuseConfigure: string | undefined;

  constructor() {
    this.stored = {
      apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume',
      metadata: {
        name: 'demo', namespace: 'apps', uid: '0b5c8f7e-1c1e-4b8e-9d0a-6f1f2f3a4b5c', resourceVersion: '1', generation: 1, finalizers: [],
      },
      spec: { size: '64Mi', placement: { primary: { node: 'site-a' }, bunker: { node: 'site-b' }, secondary: { node: 'site-c' } }, log: { size: '16Mi' } },
    };
    this.cached = this.stored;
  }

  sync(): void {
    this.cached = this.stored;
  }

  status(): ReplicatedVolumeStatus | undefined {
    return parseReplicatedVolume(this.stored).status;
  }

  /** A write that quotes `resourceVersion`: refused with 409 if the store moved on. */
  write(resourceVersion: string, change: (object: Record<string, unknown>) => Record<string, unknown>): string {
    const metadata = this.stored['metadata'];
    const current = typeof metadata === 'object' && metadata !== null && 'resourceVersion' in metadata ? metadata.resourceVersion : undefined;
    if (current !== resourceVersion) throw new KubeApiError('write', new ApiException(409, 'Conflict', {}, {}));
    this.version += 1;
    const next = change(this.stored);
    this.stored = { ...next, metadata: { ...meta(next), resourceVersion: String(this.version) } };
    return String(this.version);
  }

  bumpBehindTheCache(): void {
    this.write(String(this.version), (object) => object);
  }

  deps(): ReconcileDeps {
    return {
      now: () => NOW_MS,
      cluster: {
        volume: () => this.cached,
        node: (name) => (SITES.includes(name) ? readyNode(name) : undefined),
        agentLease: (node) => (SITES.includes(node) ? liveLease(node) : undefined),
      },
      agents: this.agentPort(),
      volumes: {
        setFinalizers: async (volume, finalizers) => this.write(volume.metadata.resourceVersion, (o) => ({ ...o, metadata: { ...meta(o), finalizers } })),
        patchTakeover: async (_volume, resourceVersion, takeover) => this.write(resourceVersion, (o) => ({ ...o, status: { ...o['status'] as object, takeover } })),
      },
      status: { replaceStatus: async (_volume, resourceVersion, status) => void this.write(resourceVersion, (o) => ({ ...o, status })) },
      owned: { publish: async (_volume: ReplicatedVolume, endpoint) => { this.endpoint = endpoint; } },
      events: { record: async (_volume, event) => void this.events.push(event) },
      logger: pino({ level: 'silent' }),
    };
  }

  private agentPort(): AgentPort {
    const volumes = (address: string): Map<string, VolumeStatus> => this.held.get(address) ?? new Map();
    return {
      status: async (address, volume): Promise<StatusResponse> => ({ node: '', volumes: [...volumes(address).values()].filter((v) => v.volume === volume) }),
      configure: async (address, request: ConfigureRequest) => {
        if (this.refuseConfigure !== undefined) throw new BunkerError(this.refuseConfigure, `configure ${request.volume} refused`);
        volumes(address).set(request.volume, replica(request, address));
      },
      release: async (address, request) => void volumes(address).delete(request.volume),
      drain: async () => { throw new BunkerError('Unimplemented', 'no drain in this fake'); },
      resync: async () => { throw new BunkerError('Unimplemented', 'no resync in this fake'); },
    };
  }
}

function meta(object: Record<string, unknown>): object {
  const metadata = object['metadata'];
  return typeof metadata === 'object' && metadata !== null ? metadata : {};
}

function replica(request: ConfigureRequest, address: string): VolumeStatus {
  return {
    volume: request.volume, role: request.role, epoch: request.epoch, durableSeq: 0, appliedSeq: 0, bunkerDurableSeq: 0, secondaryDurableSeq: 0,
    secondaryAppliedSeq: 0, secondaryLagBytes: 0, secondaryLagSeconds: 0, logUsedBytes: 0, logSizeBytes: request.logBytes, health: Health.HEALTH_OK,
    healthMessage: '', nbdAddress: request.role === Role.ROLE_PRIMARY ? `${address.split(':')[0]}:10809` : '', trackingChanges: false, firstSeq: 1,
    resync: undefined, awaitingConfirmation: false, bunkerPeer: '', secondaryPeer: '', logFull: false,
  };
}

function readyNode(name: string): V1Node {
  return { metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] } };
}

function liveLease(node: string): V1Lease {
  return {
    metadata: { name: agentLeaseName(node), annotations: { [GRPC_ADDRESS_ANNOTATION]: addressOf(node), [NBD_HOST_ANNOTATION]: addressOf(node).split(':')[0] ?? '' } },
    spec: { renewTime: new Date(microTime(new Date(NOW_MS - 1_000))), leaseDurationSeconds: 10 },
  };
}

/** Reconciles until the volume is Ready or `rounds` pass, checking the epoch rule after each. */
async function reconcileUntilReady(world: World, rounds: number): Promise<number> {
  for (let round = 1; round <= rounds; round++) {
    await reconcile('apps/demo', world.deps());
    world.sync();
    const recorded = world.status()?.epoch ?? 0;
    for (const volumes of world.held.values()) for (const held of volumes.values()) expect(held.epoch).toBeLessThanOrEqual(recorded);
    if (world.status()?.phase === 'Ready') return round;
  }
  return -1;
}

describe('reconcile', () => {
  it('takes a new volume to Ready, never letting an agent hold an epoch status does not record', async () => {
    const world = new World();
    expect(await reconcileUntilReady(world, 5)).toBe(3);
    expect(world.endpoint).toEqual({ node: 'site-a', host: '10.0.0.1', port: 10809 });
    expect([...world.held.values()].map((volumes) => volumes.get('apps/demo')?.role)).toEqual([Role.ROLE_PRIMARY, Role.ROLE_BUNKER, Role.ROLE_SECONDARY]);
    expect(world.events.map((event) => event.reason)).toEqual(['EpochRecorded', 'RoleConfigured', 'RoleConfigured', 'RoleConfigured', 'VolumeReady']);
  });

  it('fails with Conflict when the cache is stale, writes nothing, raises no Event; the retry after the cache catches up succeeds', async () => {
    const world = new World();
    world.bumpBehindTheCache();
    const attempt = reconcile('apps/demo', world.deps());
    await expect(attempt).rejects.toMatchObject({ code: 'Conflict' });
    expect([world.status(), world.events]).toEqual([undefined, []]);
    world.sync();
    await reconcile('apps/demo', world.deps());
    expect(world.status()?.epoch).toBe(1);
  });

  it('puts an agent\'s refusal in status with its reason, and raises its Event once across retries', async () => {
    const world = new World();
    await reconcile('apps/demo', world.deps());
    world.sync();
    world.refuseConfigure = 'StaleEpoch';
    for (let retry = 0; retry < 3; retry++) {
      const result = await reconcile('apps/demo', world.deps());
      world.sync();
      expect(result).toMatchObject({ kind: 'reconciled', failure: { reason: 'ConfigureRefused', code: 'StaleEpoch' } });
    }
    expect(world.status()?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ConfigureRefused' });
    expect(world.events.filter((event) => event.reason === 'ConfigureRefused')).toHaveLength(1);
    expect(world.events.some((event) => event.reason === 'RoleConfigured')).toBe(false);
  });

  it('on deletion releases every replica, then removes the finalizer and writes no status', async () => {
    const world = new World();
    expect(await reconcileUntilReady(world, 5)).toBe(3);
    world.stored = { ...world.stored, metadata: { ...meta(world.stored), deletionTimestamp: new Date(NOW_MS).toISOString() } };
    world.sync();
    const before = world.status();
    await reconcile('apps/demo', world.deps());
    expect([...world.held.values()].map((volumes) => volumes.has('apps/demo'))).toEqual([false, false, false]);
    expect(meta(world.stored)).toMatchObject({ finalizers: [] });
    expect(world.status()).toEqual(before);
  });
});
