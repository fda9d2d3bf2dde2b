// Method: wire answers in, ReplicaFacts out; the odd answers an agent of another version
// could give (unknown enum values, negative figures) become InvalidStatus, never a throw.
import { Health, Role, type VolumeStatus } from '@bunker/proto';
import { BunkerError } from '@bunker/proto/bunker-error';
import { replicaFacts, unreachable } from './replica-report.js';

const wire: VolumeStatus = {
  volume: 'apps/demo', role: Role.ROLE_PRIMARY, epoch: 2, durableSeq: 10, appliedSeq: 9, bunkerDurableSeq: 10,
  secondaryDurableSeq: 7, secondaryAppliedSeq: 7, secondaryLagBytes: 12288, secondaryLagSeconds: 0.5, logUsedBytes: 0,
  logSizeBytes: 0, health: Health.HEALTH_OK, healthMessage: '', nbdAddress: '10.0.0.1:10809', trackingChanges: false, firstSeq: 1,
  resync: undefined, awaitingConfirmation: false, bunkerPeer: '', secondaryPeer: '', logFull: false,
};

describe('replicaFacts', () => {
  it('maps a primary serving the volume', () => {
    expect(replicaFacts({ node: 'site-a', volumes: [wire] }, 'apps/demo')).toEqual({
      kind: 'reported',
      report: {
        role: 'primary', epoch: 2, durableSeq: 10, appliedSeq: 9, health: 'Healthy', healthMessage: '', nbdAddress: '10.0.0.1:10809',
        bunkerDurableSeq: 10, secondaryDurableSeq: 7, secondaryLagBytes: 12288, secondaryLagSeconds: 0.5, trackingChanges: false,
        firstSeq: 1, awaitingConfirmation: false, bunkerPeer: '', secondaryPeer: '', logFull: false,
      },
    });
  });

  it('says absent when the agent holds other volumes only', () => {
    expect(replicaFacts({ node: 'site-a', volumes: [{ ...wire, volume: 'apps/other' }] }, 'apps/demo')).toEqual({ kind: 'absent' });
  });

  it.each([
    ['an unknown role', { role: Role.UNRECOGNIZED }],
    ['a negative lag', { secondaryLagBytes: -1 }],
  ])('turns %s into InvalidStatus', (_what, change) => {
    expect(replicaFacts({ node: 'site-a', volumes: [{ ...wire, ...change }] }, 'apps/demo')).toMatchObject({ kind: 'unreachable', code: 'InvalidStatus' });
  });

  it('keeps the stable code of a failed call', () => {
    expect(unreachable(new BunkerError('Unavailable', 'connect ECONNREFUSED'))).toMatchObject({ kind: 'unreachable', code: 'Unavailable' });
    expect(unreachable(new Error('odd'))).toMatchObject({ code: 'Unavailable' });
  });
});
