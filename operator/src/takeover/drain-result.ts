// What a finished Drain leaves in status.takeover: the figures the agent streamed, kept so
// that the record step (a later reconcile, perhaps by a new operator) can write them into
// status.lastTakeover. entriesLeft is what the target could not apply of what the bunker
// held durable: the acknowledged writes a promotion at this point would lose (0 normally).
import type { DrainProgress } from '@bunker/proto';
import type { ReplicatedVolumeStatus } from '../api/index.js';

export function statusAfterDrain(status: ReplicatedVolumeStatus, progress: DrainProgress): ReplicatedVolumeStatus {
  const takeover = status.takeover;
  if (takeover === undefined) return status;
  return {
    ...status,
    takeover: {
      ...takeover,
      step: 'promote',
      entriesLeft: Math.max(0, progress.targetSeq - progress.appliedSeq),
      bytesLeft: 0,
      entriesReplayed: progress.entriesReplayed,
      incompleteWritesApplied: progress.incompleteWritesApplied,
      bytesDrained: progress.bytesReplayed,
    },
  };
}
