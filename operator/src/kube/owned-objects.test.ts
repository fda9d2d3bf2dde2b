// Method: manifests built for a parsed volume, compared with what a consumer (and the
// apiserver's validation) expects of a selector-less headless Service and its EndpointSlice.
import { parseReplicatedVolume } from '../api/index.js';
import { nodeName } from '@bunker/proto/ids';
import { volumeEndpointSlice, volumeService } from './owned-objects.js';

const volume = parseReplicatedVolume({
  apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume',
  metadata: { name: 'demo', namespace: 'apps', uid: '0b5c8f7e-1c1e-4b8e-9d0a-6f1f2f3a4b5c', resourceVersion: '7', generation: 1 },
  spec: { size: '256Mi', placement: { primary: { node: 'site-a' }, bunker: { node: 'site-b' }, secondary: { node: 'site-c' } }, log: { size: '64Mi' } },
});
const owner = { apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume', name: 'demo', uid: volume.metadata.uid, controller: true, blockOwnerDeletion: true };

describe('owned objects', () => {
  it('a headless Service without a selector, named like the volume, port 10809 "nbd"', () => {
    const service = volumeService(volume);
    expect(service).toMatchObject({ metadata: { name: 'demo', namespace: 'apps', ownerReferences: [owner] }, spec: { clusterIP: 'None', ports: [{ name: 'nbd', port: 10809 }] } });
    expect(service.spec?.selector).toBeUndefined();
  });

  it('an EndpointSlice on the primary\'s NBD host and port', () => {
    const slice = volumeEndpointSlice(volume, { node: nodeName('site-a'), host: '10.1.2.3', port: 41000 });
    expect(slice).toMatchObject({
      metadata: { name: 'demo', labels: { 'kubernetes.io/service-name': 'demo' }, ownerReferences: [owner] },
      addressType: 'IPv4', endpoints: [{ addresses: ['10.1.2.3'], nodeName: 'site-a', conditions: { ready: true } }], ports: [{ name: 'nbd', port: 41000 }],
    });
  });

  it('names the address type after the host, and publishes no endpoint while nothing serves', () => {
    expect(volumeEndpointSlice(volume, { node: nodeName('site-a'), host: 'fd00::2', port: 1 }).addressType).toBe('IPv6');
    expect(volumeEndpointSlice(volume, { node: nodeName('site-a'), host: 'node-a.example', port: 1 }).addressType).toBe('FQDN');
    expect(volumeEndpointSlice(volume, null)).toMatchObject({ endpoints: [], ports: [] });
  });
});
