// Method: a table over the replica's one configure validation point: every role pair, older
// and newer epochs, and the preconditions, each row naming the typed outcome.
import { epoch, nodeName, seq } from '@bunker/proto/ids';
import type { ConfigureEvent } from './event.js';
import { DEFAULT_MODES, type Intent, type Role } from './intent.js';
import { planRoleChange, type CurrentRole } from './role-change.js';

const P = nodeName('p');

function request(role: Role, epochNumber: number, extra: Partial<ConfigureEvent> = {}, peers: Partial<Intent> = {}): ConfigureEvent {
  const intent: Intent = {
    role,
    epoch: epoch(epochNumber),
    modes: DEFAULT_MODES,
    primary: role === 'secondary' || role === 'bunker' ? P : null,
    bunker: role === 'primary' ? P : null,
    secondary: null,
    ...peers,
  };
  return { kind: 'configure', configureId: 1, intent, resetLogToSeq: null, clearChangeMap: false, ...extra };
}

function current(role: Role, epochNumber: number, extra: Partial<CurrentRole> = {}): CurrentRole {
  return { role, epoch: epoch(epochNumber), draining: false, lastSeq: seq(0), quiescent: true, ...extra };
}

describe('planRoleChange', () => {
  it.each([
    ['none', 'none', 'update'],
    ['none', 'primary', 'switch'],
    ['none', 'bunker', 'switch'],
    ['none', 'secondary', 'switch'],
    ['primary', 'primary', 'update'],
    ['primary', 'none', 'switch'],
    ['bunker', 'bunker', 'update'],
    ['bunker', 'none', 'switch'],
    ['secondary', 'secondary', 'update'],
    ['secondary', 'none', 'switch'],
  ] as const)('same epoch, %s -> %s is a %s', (from, to, kind) => {
    expect(planRoleChange(current(from, 2), request(to, 2))).toEqual({ kind: 'accepted', change: expect.objectContaining({ kind }) });
  });

  it('the same role in a newer epoch is a new epoch', () => {
    expect(planRoleChange(current('bunker', 2), request('bunker', 3))).toEqual({ kind: 'accepted', change: { kind: 'new-epoch' } });
  });

  it('a secondary becomes primary only by a takeover in a newer epoch', () => {
    expect(planRoleChange(current('secondary', 2), request('primary', 3))).toEqual({ kind: 'accepted', change: { kind: 'takeover' } });
    expect(planRoleChange(current('secondary', 2), request('primary', 2))).toEqual({ kind: 'rejected', rejection: { kind: 'TakeoverNeedsNewEpoch', epoch: 2 } });
  });

  it('a draining replica takes its own intent again as an update, or a newer one as a new epoch', () => {
    const draining = current('primary', 3, { draining: true });
    expect(planRoleChange(draining, request('primary', 3))).toEqual({ kind: 'accepted', change: { kind: 'update' } });
    expect(planRoleChange(draining, request('primary', 4))).toEqual({ kind: 'accepted', change: { kind: 'new-epoch' } });
    expect(planRoleChange(draining, request('secondary', 4))).toEqual({ kind: 'accepted', change: { kind: 'switch', resetLogToSeq: null } });
  });

  it.each([
    ['bunker', 'primary'],
    ['bunker', 'secondary'],
    ['primary', 'bunker'],
    ['secondary', 'bunker'],
  ] as const)('%s -> %s is refused: a bunker has no data volume', (from, to) => {
    expect(planRoleChange(current(from, 2), request(to, 3))).toEqual({
      kind: 'rejected',
      rejection: { kind: 'InvalidRoleChange', from, to, reason: 'a bunker holds a log copy and no data volume' },
    });
  });

  it('refuses an older epoch', () => {
    expect(planRoleChange(current('primary', 5), request('none', 4))).toEqual({ kind: 'rejected', rejection: { kind: 'StaleEpoch', epoch: 5, requested: 4 } });
  });

  it('a replica with history becomes a secondary only through a resynchronization (failback)', () => {
    expect(planRoleChange(current('primary', 2, { lastSeq: seq(9) }), request('secondary', 3))).toEqual({ kind: 'rejected', rejection: { kind: 'ResyncRequired', lastSeq: 9 } });
    expect(planRoleChange(current('none', 3, { lastSeq: seq(9) }), request('secondary', 3))).toEqual({ kind: 'rejected', rejection: { kind: 'ResyncRequired', lastSeq: 9 } });
    expect(planRoleChange(current('none', 3, { lastSeq: seq(9) }), request('secondary', 3, { resetLogToSeq: seq(20) }))).toEqual({
      kind: 'accepted',
      change: { kind: 'switch', resetLogToSeq: 20 },
    });
  });

  it('a resynchronization needs nothing in flight, and a secondary as the target', () => {
    expect(planRoleChange(current('none', 3, { quiescent: false }), request('secondary', 3, { resetLogToSeq: seq(1) }))).toEqual({
      kind: 'rejected',
      rejection: { kind: 'Busy', reason: 'appends or applies in flight; retry' },
    });
    expect(planRoleChange(current('primary', 3), request('bunker', 3, { resetLogToSeq: seq(1) }))).toEqual({
      kind: 'rejected',
      rejection: expect.objectContaining({ kind: 'InvalidRoleChange', reason: 'only a secondary is resynchronized, or a new bunker started' }),
    });
    expect(planRoleChange(current('none', 3), request('primary', 3, { resetLogToSeq: seq(1) }))).toEqual({
      kind: 'rejected',
      rejection: expect.objectContaining({ kind: 'InvalidRoleChange' }),
    });
  });

  it('a new bunker (a replica holding nothing) may start its log copy after a sequence', () => {
    expect(planRoleChange(current('none', 3), request('bunker', 3, { resetLogToSeq: seq(40) }))).toEqual({
      kind: 'accepted', change: { kind: 'switch', resetLogToSeq: 40 },
    });
  });

  it('names the missing peer', () => {
    expect(planRoleChange(current('none', 1), request('primary', 1, {}, { bunker: null }))).toEqual({ kind: 'rejected', rejection: { kind: 'MissingPeer', peer: 'bunker' } });
    expect(planRoleChange(current('none', 1), request('secondary', 1, {}, { primary: null }))).toEqual({ kind: 'rejected', rejection: { kind: 'MissingPeer', peer: 'primary' } });
    expect(planRoleChange(current('none', 1), request('primary', 1, {}, { bunker: null, modes: { recovery: 'none', secondary: 'async' } }))).toEqual({
      kind: 'accepted',
      change: { kind: 'switch', resetLogToSeq: null },
    });
  });
});
