// The objects a volume owns beside it, as server-side-apply manifests: a selector-less
// headless Service named like the volume, and its one EndpointSlice pointing at the NBD
// server of the primary. Selector-less, because no Pod serves the volume: the operator
// moves the endpoint when the primary moves. Owner references to the ReplicatedVolume let
// the garbage collector remove both when the volume is deleted.
import { isIPv4, isIPv6 } from 'node:net';
import type { V1EndpointSlice, V1OwnerReference, V1Service } from '@kubernetes/client-node';
import { API_GROUP_VERSION, KIND, type ReplicatedVolume } from '../api/index.js';
import type { NbdEndpoint } from '../reconcile/actions.js';

/** The NBD port consumers connect to (IANA's, and the agents' default). */
export const NBD_SERVICE_PORT = 10809;
export const NBD_PORT_NAME = 'nbd';
export const FIELD_MANAGER = 'bunker-operator';
/** Tells the cluster's EndpointSlice controller that this slice is someone else's. */
const MANAGED_BY = 'bunker-operator.replication.bunker.dev';

function ownerReference(volume: ReplicatedVolume): V1OwnerReference {
  return { apiVersion: API_GROUP_VERSION, kind: KIND, name: volume.metadata.name, uid: volume.metadata.uid, controller: true, blockOwnerDeletion: true };
}

function labels(volume: ReplicatedVolume): Record<string, string> {
  return { 'app.kubernetes.io/managed-by': 'bunker-operator', 'replication.bunker.dev/volume': volume.metadata.name };
}

export function volumeService(volume: ReplicatedVolume): V1Service {
  const { name, namespace } = volume.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels: labels(volume), ownerReferences: [ownerReference(volume)] },
    spec: {
      clusterIP: 'None',
      ports: [{ name: NBD_PORT_NAME, port: NBD_SERVICE_PORT, protocol: 'TCP' }],
    },
  };
}

export function volumeEndpointSlice(volume: ReplicatedVolume, endpoint: NbdEndpoint | null): V1EndpointSlice {
  const { name, namespace } = volume.metadata;
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name, namespace,
      labels: { ...labels(volume), 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': MANAGED_BY },
      ownerReferences: [ownerReference(volume)],
    },
    addressType: endpoint === null ? 'IPv4' : addressType(endpoint.host),
    endpoints: endpoint === null ? [] : [{ addresses: [endpoint.host], conditions: { ready: true, serving: true, terminating: false }, nodeName: endpoint.node }],
    ports: endpoint === null ? [] : [{ name: NBD_PORT_NAME, port: endpoint.port, protocol: 'TCP' }],
  };
}

function addressType(host: string): string {
  if (isIPv4(host)) return 'IPv4';
  if (isIPv6(host)) return 'IPv6';
  return 'FQDN';
}
