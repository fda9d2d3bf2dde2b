// Method: apply() given one drain action, with an agent fake that streams progress while the
// test moves the clock, and a store that bumps the resourceVersion on each conditional write
// (a stale one is refused, as the apiserver does). What must hold: live progress reaches
// status.takeover during the drain, and apply hands back the resourceVersion after its own
// progress writes, so the reconcile's final status write is not a conflict with itself.
import type { DrainProgress, DrainRequest } from '@bunker/proto';
import type { Epoch, NodeName } from '@bunker/proto/ids';
import { parseReplicatedVolume, type ReplicatedVolume, type TakeoverProgress } from '../api/index.js';
import type { Action } from './actions.js';
import { apply, type ApplyPorts } from './apply.js';

const TAKEOVER: TakeoverProgress = {
  step: 'drain', reason: 'AgentLeaseExpired', startedAt: '2030-01-01T00:00:00Z', fromNode: 'site-a' as NodeName, targetNode: 'site-c' as NodeName,
  fromEpoch: 1 as Epoch, toEpoch: 2 as Epoch,
};

const volume: ReplicatedVolume = parseReplicatedVolume({
  apiVersion: 'replication.bunker.dev/v1alpha1', kind: 'ReplicatedVolume',
  metadata: { name: 'demo', namespace: 'apps', uid: '0b5c8f7e-1c1e-4b8e-9d0a-6f1f2f3a4b5c', resourceVersion: '7', generation: 1, finalizers: [] },
  spec: { size: '64Mi', placement: { primary: { node: 'site-a' }, bunker: { node: 'site-b' }, secondary: { node: 'site-c' } }, log: { size: '16Mi' } },
});

const drainAction: Action = {
  kind: 'drain', node: 'site-c' as NodeName, address: '10.0.0.3:7443', volume: 'apps/demo', epoch: 2 as Epoch,
  bunker: { node: 'site-b' as NodeName, address: '10.0.0.2:7443' }, takeover: TAKEOVER,
};

function step(appliedSeq: number, entriesReplayed: number, done = false): DrainProgress {
  return { appliedSeq, targetSeq: 200, entriesReplayed, bytesReplayed: entriesReplayed * 4096, incompleteWritesApplied: 0, done };
}

describe('apply() of a drain', () => {
  it('writes live progress into status.takeover and returns the resourceVersion after those writes', async () => {
    let storedVersion = 7;
    const written: { resourceVersion: string; takeover: TakeoverProgress }[] = [];
    const clock = { ms: 0 };
    let request: DrainRequest | undefined;
    const ports: ApplyPorts = {
      volumes: {
        setFinalizers: async () => { throw new Error('not in this test'); },
        patchTakeover: async (_volume, resourceVersion, takeover) => {
          if (resourceVersion !== String(storedVersion)) throw new Error(`409: quoted ${resourceVersion}, stored ${storedVersion}`);
          storedVersion += 1;
          written.push({ resourceVersion, takeover });
          return String(storedVersion);
        },
      },
      owned: { publish: async () => undefined },
      agents: {
        configure: async () => undefined,
        release: async () => undefined,
        resync: async () => undefined,
        drain: async (_address, drainRequest, onProgress) => {
          request = drainRequest;
          // The agent's messages, 100 ms apart; the publisher's patches resolve in between.
          const messages = [step(100, 0), step(120, 20), step(140, 40), step(160, 60), step(180, 80), step(200, 100), step(200, 100, true)];
          let last = messages[0];
          for (const message of messages) {
            onProgress(message);
            last = message;
            clock.ms += 300;
            await new Promise((resolve) => setImmediate(resolve));
          }
          if (last === undefined) throw new Error('no progress');
          return last;
        },
      },
    };

    const outcome = await apply(volume, [drainAction], ports, () => clock.ms);

    expect(request).toMatchObject({ volume: 'apps/demo', epoch: 2, bunker: { node: 'site-b' } });
    expect(written.map((w) => w.takeover.entriesLeft)).toEqual([80, 40, 0]);
    expect(written[0]?.takeover).toEqual({ ...TAKEOVER, entriesLeft: 80, bytesLeft: 80 * 4096 });
    expect(written.map((w) => w.resourceVersion)).toEqual(['7', '8', '9']);
    expect(outcome).toMatchObject({ resourceVersion: '10', failure: null, drained: { done: true, appliedSeq: 200 } });
  });
});
