// States of the secondary.
//
// following: appends what the primary ships (committed entries only), applies it once
//   durable, acknowledges durable and applied sequences.
// draining: configured primary in a newer epoch (takeover): fenced against the old primary,
//   it drains the bunker's log copy into its staging log and change log and applies it.
// drain-failed: the bunker no longer holds what the drain needs (a hole after its trim
//   point): the takeover cannot be lossless; the operator must decide (resynchronize).
// promoted: drained and applied; the replica hands over to a primary machine.
import { checkTransition, type TransitionRejection, type TransitionTable } from './transition-check.js';

export type SecondaryState = 'following' | 'draining' | 'drain-failed' | 'promoted';

const SECONDARY_TRANSITIONS: TransitionTable<SecondaryState> = {
  following: ['draining'],
  draining: ['promoted', 'drain-failed'],
  'drain-failed': ['draining'],
  promoted: [],
};

export function checkSecondaryTransition(from: SecondaryState, to: SecondaryState): TransitionRejection<SecondaryState> | null {
  return checkTransition('secondary', SECONDARY_TRANSITIONS, from, to);
}
