// Reads a ReplicatedVolume through the apiserver client instead of a kubectl process, for tests
// that poll one many times a second: no process per look (cheap on a loaded machine), and
// parsed by the operator's own adapter, as readVolume in operator-process.ts does.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { parseReplicatedVolume, type ReplicatedVolume } from '../../operator/src/api/index.js';

export function volumeReader(kubeConfig: KubeConfig): (namespace: string, name: string) => Promise<ReplicatedVolume> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  return async (namespace, name) => parseReplicatedVolume(await api.getNamespacedCustomObject({
    group: 'replication.bunker.dev', version: 'v1alpha1', namespace, plural: 'replicatedvolumes', name,
  }));
}
