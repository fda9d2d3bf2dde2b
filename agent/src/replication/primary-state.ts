// States of the primary and the one table that says which moves are legal.
//
//   recovering --> serving <--> stalled
//        \            |           /
//         +--> data-failed <-----+        and every state --> fenced (terminal)
//
// recovering: incomplete writes are being applied and (recovery: sync) the bunker has not yet
//   answered this incarnation's hello; no sequence may be assigned before it has, or a new
//   entry could take a sequence the bunker already holds from the previous incarnation.
// stalled: a waited-for peer (the bunker in recovery: sync, the secondary in secondary: sync)
//   has been silent for peerTimeoutTicks: new writes are refused, uncommitted ones failed.
// data-failed: the data volume returned I/O errors: nothing is applied or acknowledged.
// fenced: a peer answered with a newer epoch: this replica is no longer primary.
import { checkTransition, type TransitionRejection, type TransitionTable } from './transition-check.js';

export type PrimaryState = 'recovering' | 'serving' | 'stalled' | 'data-failed' | 'fenced';

const PRIMARY_TRANSITIONS: TransitionTable<PrimaryState> = {
  recovering: ['serving', 'data-failed', 'fenced'],
  serving: ['stalled', 'data-failed', 'fenced'],
  stalled: ['serving', 'data-failed', 'fenced'],
  'data-failed': ['fenced'],
  fenced: [],
};

export function checkPrimaryTransition(from: PrimaryState, to: PrimaryState): TransitionRejection<PrimaryState> | null {
  return checkTransition('primary', PRIMARY_TRANSITIONS, from, to);
}
