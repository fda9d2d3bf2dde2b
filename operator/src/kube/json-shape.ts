// Narrowing of JSON the apiserver returns where the client types it `any` (custom objects):
// runtime checks the compiler can follow, no casts.
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';

export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object with the metadata an informer cache keys on: name, namespace, resourceVersion. */
export function isCacheableObject(value: unknown): value is KubernetesObject {
  if (!isRecord(value)) return false;
  const metadata = value['metadata'];
  return isRecord(metadata) && typeof metadata['name'] === 'string' && typeof metadata['resourceVersion'] === 'string';
}

/** A list response as the informer wants it; items without usable metadata are dropped. */
export function objectList(value: unknown): KubernetesListObject<KubernetesObject> {
  if (!isRecord(value)) throw new TypeError('list response is not an object');
  const items = Array.isArray(value['items']) ? value['items'].filter(isCacheableObject) : [];
  const metadata = value['metadata'];
  const resourceVersion = isRecord(metadata) && typeof metadata['resourceVersion'] === 'string' ? metadata['resourceVersion'] : '';
  return { metadata: { resourceVersion }, items };
}

export function resourceVersionOf(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  const metadata = value['metadata'];
  return isRecord(metadata) && typeof metadata['resourceVersion'] === 'string' ? metadata['resourceVersion'] : undefined;
}
