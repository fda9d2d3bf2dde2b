// States of the bunker (recovery node).
//
// idle: no primary session in the current epoch (just configured, restarted, or fenced by a
//   newer epoch seen in a configure or a drain's fetch). Acknowledges nothing.
// following: a primary incarnation opened a session with a hello; its batches are appended
//   and acknowledged. A newer session (restart) or a newer epoch replaces it.
import { checkTransition, type TransitionRejection, type TransitionTable } from './transition-check.js';

export type BunkerState = 'idle' | 'following';

const BUNKER_TRANSITIONS: TransitionTable<BunkerState> = {
  idle: ['idle', 'following'],
  following: ['following', 'idle'],
};

export function checkBunkerTransition(from: BunkerState, to: BunkerState): TransitionRejection<BunkerState> | null {
  return checkTransition('bunker', BUNKER_TRANSITIONS, from, to);
}
