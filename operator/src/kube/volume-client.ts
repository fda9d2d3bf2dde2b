// The operator's writes to ReplicatedVolumes: its finalizer (metadata, by a merge patch made
// conditional on the resourceVersion read) and the status (a PUT to the status subresource
// with that resourceVersion). Both fail with KubeApiError 'Conflict' when someone wrote in
// between; the reconcile is then retried from the current object, never forced.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { API_GROUP, API_GROUP_VERSION, API_VERSION, KIND, PLURAL, type ReplicatedVolume, type ReplicatedVolumeStatus, type TakeoverProgress } from '../api/index.js';
import { kubeCall } from './api-errors.js';
import { objectList, resourceVersionOf } from './json-shape.js';

export class VolumeClient {
  private readonly api: CustomObjectsApi;

  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** Lists volumes in one namespace, or in all when `namespace` is undefined (the informer's list). */
  async list(namespace: string | undefined): Promise<KubernetesListObject<KubernetesObject>> {
    const what = `list ${PLURAL}${namespace === undefined ? '' : ` in ${namespace}`}`;
    const response: unknown = await kubeCall(what, () => (namespace === undefined
      ? this.api.listClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: PLURAL })
      : this.api.listNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace, plural: PLURAL })));
    return objectList(response);
  }

  /** Sets metadata.finalizers; resolves with the new resourceVersion. */
  async setFinalizers(volume: ReplicatedVolume, finalizers: readonly string[]): Promise<string> {
    const { name, namespace, resourceVersion } = volume.metadata;
    const body = { metadata: { resourceVersion, finalizers } };
    const response: unknown = await kubeCall(`set finalizers of ${namespace}/${name}`, () => this.api.patchNamespacedCustomObject(
      { group: API_GROUP, version: API_VERSION, namespace, plural: PLURAL, name, body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    ));
    return resourceVersionOf(response) ?? resourceVersion;
  }

  /**
   * Merge-patches status.takeover (a running drain's progress), conditional on the
   * resourceVersion given; resolves with the new resourceVersion.
   */
  async patchTakeover(volume: ReplicatedVolume, resourceVersion: string, takeover: TakeoverProgress): Promise<string> {
    const { name, namespace } = volume.metadata;
    const body = { metadata: { resourceVersion }, status: { takeover } };
    const response: unknown = await kubeCall(`write takeover progress of ${namespace}/${name}`, () => this.api.patchNamespacedCustomObjectStatus(
      { group: API_GROUP, version: API_VERSION, namespace, plural: PLURAL, name, body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    ));
    return resourceVersionOf(response) ?? resourceVersion;
  }

  /** Replaces the status; only status is taken from the body by the subresource. */
  async replaceStatus(volume: ReplicatedVolume, resourceVersion: string, status: ReplicatedVolumeStatus): Promise<void> {
    const { name, namespace } = volume.metadata;
    const body = { apiVersion: API_GROUP_VERSION, kind: KIND, metadata: { name, namespace, resourceVersion }, status };
    await kubeCall(`write status of ${namespace}/${name}`, () => this.api.replaceNamespacedCustomObjectStatus(
      { group: API_GROUP, version: API_VERSION, namespace, plural: PLURAL, name, body },
    ));
  }
}
