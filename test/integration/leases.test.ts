// Leases against the real apiserver: the agent's heartbeat Lease carries its addresses and is
// renewed; two operator candidates elect one leader, and when the leader dies without
// releasing, the other takes over within the lease duration; a clean stop hands over at once.
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { HeartbeatLease, agentLeaseName, LEASE_ANNOTATIONS } from '../../agent/src/discovery/heartbeat-lease.js';
import { LeaderElection } from '../../operator/src/controller/leader-election.js';
import { microTimeMs } from '@bunker/proto/micro-time';
import { testCluster } from '../support/cluster.js';
import { waitFor } from '../support/wait-for.js';

const namespace = 'leases-test';

beforeAll(async () => {
  const core = testCluster().kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

describe('agent heartbeat Lease', () => {
  it('is created with the agent addresses and renewed', async () => {
    const { kubeConfig } = testCluster();
    const heartbeat = new HeartbeatLease({
      kubeConfig, namespace, node: 'site-a', grpcAddress: '127.0.0.1:7001', nbdHost: '127.0.0.1',
      capacityBytes: 1 << 30, agentVersion: 'test', leaseDurationSeconds: 1,
    });
    await heartbeat.start();
    try {
      const api = kubeConfig.makeApiClient(CoordinationV1Api);
      const first = await api.readNamespacedLease({ name: agentLeaseName('site-a'), namespace });
      expect(first.metadata?.annotations?.[LEASE_ANNOTATIONS.grpcAddress]).toBe('127.0.0.1:7001');
      expect(first.spec?.holderIdentity).toBe('site-a');
      const firstRenew = microTimeMs(first.spec?.renewTime) ?? 0;
      await waitFor('a renewal', async () => {
        const lease = await api.readNamespacedLease({ name: agentLeaseName('site-a'), namespace });
        return (microTimeMs(lease.spec?.renewTime) ?? 0) > firstRenew ? true : undefined;
      }, { timeoutMs: 5_000 });
    } finally {
      heartbeat.stop();
    }
  });
});

describe('operator leader election', () => {
  function candidate(identity: string, events: string[]): LeaderElection {
    return new LeaderElection({
      kubeConfig: testCluster().kubeConfig, namespace, leaseName: 'bunker-operator-leader', identity,
      leaseDurationSeconds: 2, renewIntervalMs: 300,
      onStartedLeading: () => events.push(`${identity}:lead`),
      onStoppedLeading: () => events.push(`${identity}:follow`),
    });
  }

  it('elects one leader, and the follower takes over within the lease duration when the leader dies', async () => {
    const events: string[] = [];
    const a = candidate('operator-a', events);
    a.start();
    await waitFor('operator-a to lead', async () => (a.isLeader ? true : undefined));
    const b = candidate('operator-b', events);
    b.start();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(b.isLeader).toBe(false);

    // As a crash would: stop renewing without releasing the Lease.
    const killedAt = Date.now();
    await a.stop({ release: false });
    await waitFor('operator-b to take over', async () => (b.isLeader ? true : undefined), { timeoutMs: 6_000 });
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(2_000 + 1_500);
    await b.stop();
    expect(events).toEqual(['operator-a:lead', 'operator-a:follow', 'operator-b:lead', 'operator-b:follow']);
  });

  it('hands over at once when the leader stops cleanly', async () => {
    const events: string[] = [];
    const c = candidate('operator-c', events);
    c.start();
    await waitFor('operator-c to lead', async () => (c.isLeader ? true : undefined), { timeoutMs: 6_000 });
    const d = candidate('operator-d', events);
    d.start();
    const stoppedAt = Date.now();
    await c.stop();
    await waitFor('operator-d to lead', async () => (d.isLeader ? true : undefined), { timeoutMs: 3_000 });
    expect(Date.now() - stoppedAt).toBeLessThan(1_500);
    await d.stop();
  });
});
