// Method: raw volumes (as the informer caches hold them) and node names in, keys out.
import { FingerprintMemory, volumesOnNode } from './node-index.js';

function raw(name: string, nodes: readonly [string, string, string], statusPrimary?: string): unknown {
  return {
    apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume',
    metadata: { name, namespace: 'apps', uid: `uid-${name}`, resourceVersion: '1', generation: 1 },
    spec: { size: '64Mi', placement: { primary: { node: nodes[0] }, bunker: { node: nodes[1] }, secondary: { node: nodes[2] } }, log: { size: '16Mi' } },
    ...(statusPrimary === undefined ? {} : { status: { roles: { primary: { node: statusPrimary } } } }),
  };
}

describe('volumesOnNode', () => {
  it('finds the volumes with a role on the node, by spec or by status, and skips unparsable ones', () => {
    const volumes = [raw('one', ['a', 'b', 'c']), raw('two', ['d', 'e', 'f']), raw('moved', ['x', 'y', 'z'], 'a'), { kind: 'junk' }];
    expect(volumesOnNode(volumes, 'a')).toEqual(['apps/one', 'apps/moved']);
    expect(volumesOnNode(volumes, 'e')).toEqual(['apps/two']);
    expect(volumesOnNode(volumes, 'q')).toEqual([]);
  });
});

describe('FingerprintMemory', () => {
  it('reports a change only when the fingerprint differs, and on forgetting', () => {
    const memory = new FingerprintMemory(2);
    expect([memory.changed('a', '1'), memory.changed('a', '1'), memory.changed('a', '2')]).toEqual([true, false, true]);
    expect([memory.changed('a', undefined), memory.changed('a', undefined)]).toEqual([true, false]);
    memory.changed('b', '1');
    memory.changed('c', '1');
    memory.changed('d', '1');
    expect(memory.changed('b', '1')).toBe(true);
  });
});
