// The replica's one validation point for configure: from the role it holds to the role the
// operator asks for. Validates, and says what kind of change it is; the replica then commits
// (persists the intent) and runs the effects. Rejections are typed and answered to the
// operator, never thrown.
//
//   none      -> none | primary | bunker | secondary
//   primary   -> primary | none | secondary (failback: only with a log reset)
//   bunker    -> bunker | none                   (a bunker has no data volume to serve)
//   secondary -> secondary | none | primary      (takeover: only in a newer epoch)
import type { Epoch, Seq } from '@bunker/proto/ids';
import type { ConfigureEvent } from './event.js';
import type { Role } from './intent.js';
import type { ConfigureRejection } from './ready.js';
import { checkTransition, type TransitionTable } from './transition-check.js';

const ROLE_TRANSITIONS: TransitionTable<Role> = {
  none: ['none', 'primary', 'bunker', 'secondary'],
  primary: ['primary', 'none', 'secondary'],
  bunker: ['bunker', 'none'],
  secondary: ['secondary', 'none', 'primary'],
};

export interface CurrentRole {
  readonly role: Role;
  readonly epoch: Epoch;
  /** A secondary configured primary that has not yet promoted (its intent already says primary). */
  readonly draining: boolean;
  readonly lastSeq: Seq;
  /** No append or apply in flight: the log may be cut and the volume overwritten. */
  readonly quiescent: boolean;
}

export type RoleChange =
  | { readonly kind: 'update' } //    same role and epoch: peers, modes, change map
  | { readonly kind: 'new-epoch' } // same role, newer epoch
  | { readonly kind: 'takeover' } //  secondary -> primary: fence, drain, promote
  | { readonly kind: 'switch'; readonly resetLogToSeq: Seq | null };

export type RoleChangeResult =
  | { readonly kind: 'accepted'; readonly change: RoleChange }
  | { readonly kind: 'rejected'; readonly rejection: ConfigureRejection };

export function planRoleChange(current: CurrentRole, request: ConfigureEvent): RoleChangeResult {
  const rejection = precondition(current, request);
  if (rejection !== null) return { kind: 'rejected', rejection };
  const to = request.intent.role;
  const newer = request.intent.epoch > current.epoch;
  if (current.draining && to === 'primary') return accepted({ kind: newer ? 'new-epoch' : 'update' });
  // Abandoning a takeover: its log holds only drained history, so it can follow again as is.
  if (current.draining && to === 'secondary') return accepted({ kind: 'switch', resetLogToSeq: request.resetLogToSeq });
  const from: Role = current.draining ? 'secondary' : current.role;
  const invalid = checkTransition('replica', ROLE_TRANSITIONS, from, to);
  if (invalid !== null) return reject({ kind: 'InvalidRoleChange', from, to, reason: roleReason(from, to) });
  if (from === 'secondary' && to === 'primary') {
    return newer ? accepted({ kind: 'takeover' }) : reject({ kind: 'TakeoverNeedsNewEpoch', epoch: current.epoch });
  }
  if (to === 'secondary' && from !== 'secondary' && current.lastSeq > 0 && request.resetLogToSeq === null) {
    // Its history may hold entries the primary never had: copy what differs first (failback).
    return reject({ kind: 'ResyncRequired', lastSeq: current.lastSeq });
  }
  if (request.resetLogToSeq !== null) return accepted({ kind: 'switch', resetLogToSeq: request.resetLogToSeq });
  if (from === to) return accepted({ kind: newer ? 'new-epoch' : 'update' });
  return accepted({ kind: 'switch', resetLogToSeq: null });
}

function precondition(current: CurrentRole, request: ConfigureEvent): ConfigureRejection | null {
  const intent = request.intent;
  if (intent.epoch < current.epoch) return { kind: 'StaleEpoch', epoch: current.epoch, requested: intent.epoch };
  if (intent.role === 'primary' && intent.modes.recovery === 'sync' && intent.bunker === null) return { kind: 'MissingPeer', peer: 'bunker' };
  if (intent.role === 'secondary' && intent.primary === null) return { kind: 'MissingPeer', peer: 'primary' };
  if (request.resetLogToSeq !== null) {
    // A secondary after a resync follows from the copy's base; a new bunker (a spare holding
    // nothing) starts its log copy where the secondary stands.
    const newBunker = intent.role === 'bunker' && current.role === 'none';
    if (intent.role !== 'secondary' && !newBunker) return { kind: 'InvalidRoleChange', from: current.role, to: intent.role, reason: 'only a secondary is resynchronized, or a new bunker started' };
    if (!current.quiescent) return { kind: 'Busy', reason: 'appends or applies in flight; retry' };
  }
  return null;
}

function roleReason(from: Role, to: Role): string {
  if (from === 'bunker' || to === 'bunker') return 'a bunker holds a log copy and no data volume';
  return `no transition from ${from} to ${to}`;
}

function accepted(change: RoleChange): RoleChangeResult {
  return { kind: 'accepted', change };
}

function reject(rejection: ConfigureRejection): RoleChangeResult {
  return { kind: 'rejected', rejection };
}
