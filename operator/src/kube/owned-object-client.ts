// Server-side apply of the volume's Service and EndpointSlice. Apply is idempotent: the same
// manifest twice changes nothing (not even the resourceVersion), so it runs every reconcile
// instead of diffing against a cache. force: the operator owns these objects outright.
import { CoreV1Api, DiscoveryV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { ReplicatedVolume } from '../api/index.js';
import type { NbdEndpoint } from '../reconcile/actions.js';
import { kubeCall } from './api-errors.js';
import { FIELD_MANAGER, volumeEndpointSlice, volumeService } from './owned-objects.js';

export class OwnedObjectClient {
  private readonly core: CoreV1Api;
  private readonly discovery: DiscoveryV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
  }

  async publish(volume: ReplicatedVolume, endpoint: NbdEndpoint | null): Promise<void> {
    const { name, namespace } = volume.metadata;
    const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    await kubeCall(`apply Service ${namespace}/${name}`, () => this.core.patchNamespacedService(
      { name, namespace, body: volumeService(volume), fieldManager: FIELD_MANAGER, force: true }, apply,
    ));
    await kubeCall(`apply EndpointSlice ${namespace}/${name}`, () => this.discovery.patchNamespacedEndpointSlice(
      { name, namespace, body: volumeEndpointSlice(volume, endpoint), fieldManager: FIELD_MANAGER, force: true }, apply,
    ));
  }
}
