// A second test file sees the same control plane as the first: the run stamp written once by
// the global setup is here, and objects other files create are visible (no per-file start).
import { CoreV1Api } from '@kubernetes/client-node';
import { testCluster } from '../support/cluster.js';

describe('control plane reuse across test files', () => {
  it('reads the run stamp the global setup wrote, so this file did not start its own', async () => {
    const { kubeConfig, runId } = testCluster();
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const map = await core.readNamespacedConfigMap({ name: 'bunker-test-run', namespace: 'default' });
    expect(map.data?.['runId']).toBe(runId);
    // etcd keeps the stamp's creation time from before this worker started.
    const created = map.metadata?.creationTimestamp;
    expect(created).toBeDefined();
    expect(new Date(created ?? 0).getTime()).toBeLessThanOrEqual(Date.now());
  });
});
