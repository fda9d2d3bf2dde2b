// Method: a table. Each row starts from one healthy, safe volume, changes what the row is
// about, and names the decision, the rule and why. Every rule appears at least once, and the
// order of the rules is pinned by rows where two of them would apply.
import { epoch, nodeName, seq } from '@bunker/proto/ids';
import { decideTakeover, type TakeoverDecision, type TakeoverRule } from './decide-takeover.js';
import type { ObservedVolume } from './observed-volume.js';

const base: ObservedVolume = {
  epoch: epoch(3),
  primary: { node: nodeName('a'), health: 'ok', unhealthyForMs: 0 },
  failover: { mode: 'automatic', gracePeriodMs: 10_000 },
  manualRequest: null,
  recovery: 'sync',
  bunker: { node: nodeName('b'), reachable: true, durableSeq: seq(120), firstSeq: seq(90) },
  secondary: { node: nodeName('c'), reachable: true, durableSeq: seq(100), resyncing: false, dataFailed: false },
  takeoverInProgress: false,
  allowDataLoss: false,
};

const down = { node: nodeName('a'), health: 'node-not-ready', unhealthyForMs: 12_000 } as const;
const request = { requestId: 'r-1', stale: false } as const;

interface Row {
  readonly name: string;
  readonly observed: ObservedVolume;
  readonly decision: TakeoverDecision['decision'];
  readonly rule: TakeoverRule;
}

const rows: readonly Row[] = [
  { name: 'a healthy primary is left alone', observed: base, decision: 'wait', rule: 'primary-healthy' },
  {
    name: 'a node NotReady for less than the grace period is given time',
    observed: { ...base, primary: { ...down, unhealthyForMs: 9_999 } },
    decision: 'wait',
    rule: 'within-grace-period',
  },
  {
    name: 'an expired Lease is given the grace period too',
    observed: { ...base, primary: { node: nodeName('a'), health: 'lease-expired', unhealthyForMs: 1_000 } },
    decision: 'wait',
    rule: 'within-grace-period',
  },
  { name: 'a node NotReady past the grace period is taken over by draining the bunker', observed: { ...base, primary: down }, decision: 'promote', rule: 'drain-bunker' },
  {
    name: 'a Lease expired past the grace period is taken over',
    observed: { ...base, primary: { node: nodeName('a'), health: 'lease-expired', unhealthyForMs: 10_000 } },
    decision: 'promote',
    rule: 'drain-bunker',
  },
  {
    name: 'a failed data volume is taken over at once: the agent reported it, nothing is guessed',
    observed: { ...base, primary: { node: nodeName('a'), health: 'data-failed', unhealthyForMs: 0 } },
    decision: 'promote',
    rule: 'drain-bunker',
  },
  {
    name: 'manual mode never acts alone, even on a dead primary',
    observed: { ...base, primary: down, failover: { mode: 'manual', gracePeriodMs: 10_000 } },
    decision: 'wait',
    rule: 'manual-mode-awaits-request',
  },
  {
    name: 'manual mode with a healthy primary just waits',
    observed: { ...base, failover: { mode: 'manual', gracePeriodMs: 10_000 } },
    decision: 'wait',
    rule: 'primary-healthy',
  },
  {
    name: 'a takeover request is honoured even with a healthy primary (planned takeover)',
    observed: { ...base, failover: { mode: 'manual', gracePeriodMs: 10_000 }, manualRequest: request },
    decision: 'promote',
    rule: 'drain-bunker',
  },
  { name: 'a request in automatic mode skips the grace period', observed: { ...base, primary: { ...down, unhealthyForMs: 1 }, manualRequest: request }, decision: 'promote', rule: 'drain-bunker' },
  { name: 'a stale request is refused', observed: { ...base, manualRequest: { requestId: 'r-0', stale: true } }, decision: 'refuse', rule: 'stale-request' },
  {
    name: 'a takeover in progress is resumed from status, never started twice (even with a request)',
    observed: { ...base, primary: down, manualRequest: request, takeoverInProgress: true },
    decision: 'refuse',
    rule: 'takeover-in-progress',
  },
  { name: 'no secondary: nothing to promote', observed: { ...base, primary: down, secondary: null }, decision: 'refuse', rule: 'no-secondary' },
  {
    name: 'a secondary whose volume failed is not promoted',
    observed: { ...base, primary: down, secondary: { ...nonNull(base.secondary), dataFailed: true } },
    decision: 'refuse',
    rule: 'secondary-data-failed',
  },
  {
    name: 'a secondary still being resynchronized is not a consistent copy',
    observed: { ...base, primary: down, secondary: { ...nonNull(base.secondary), resyncing: true } },
    decision: 'refuse',
    rule: 'secondary-resyncing',
  },
  {
    name: 'an unreachable secondary is waited for',
    observed: { ...base, primary: down, secondary: { ...nonNull(base.secondary), reachable: false } },
    decision: 'wait',
    rule: 'secondary-unreachable',
  },
  {
    name: 'bunker unreachable and the secondary may lag: refuse rather than lose acknowledged writes',
    observed: { ...base, primary: down, bunker: { ...nonNull(base.bunker), reachable: false } },
    decision: 'refuse',
    rule: 'bunker-unreachable',
  },
  {
    name: 'bunker unreachable but data loss explicitly allowed: promote',
    observed: { ...base, primary: down, bunker: { ...nonNull(base.bunker), reachable: false }, allowDataLoss: true },
    decision: 'promote',
    rule: 'data-loss-allowed',
  },
  { name: 'no bunker configured counts as unreachable', observed: { ...base, primary: down, bunker: null }, decision: 'refuse', rule: 'bunker-unreachable' },
  {
    name: 'a bunker trimmed past the secondary would leave a hole',
    observed: { ...base, primary: down, bunker: { ...nonNull(base.bunker), firstSeq: seq(102) } },
    decision: 'refuse',
    rule: 'bunker-gap',
  },
  {
    name: 'a hole with data loss allowed: promote anyway',
    observed: { ...base, primary: down, bunker: { ...nonNull(base.bunker), firstSeq: seq(102) }, allowDataLoss: true },
    decision: 'promote',
    rule: 'data-loss-allowed',
  },
  {
    name: 'no hole when the bunker starts right after the secondary',
    observed: { ...base, primary: down, bunker: { ...nonNull(base.bunker), firstSeq: seq(101) } },
    decision: 'promote',
    rule: 'drain-bunker',
  },
  {
    name: 'no hole when the secondary already holds everything the bunker has',
    observed: { ...base, primary: down, bunker: { ...nonNull(base.bunker), durableSeq: seq(100), firstSeq: seq(150) } },
    decision: 'promote',
    rule: 'drain-bunker',
  },
  { name: 'recovery: none may lose acknowledged writes: refuse', observed: { ...base, primary: down, recovery: 'none' }, decision: 'refuse', rule: 'recovery-none-may-lose-writes' },
  { name: 'recovery: none with data loss allowed: promote', observed: { ...base, primary: down, recovery: 'none', allowDataLoss: true }, decision: 'promote', rule: 'data-loss-allowed' },
];

function nonNull<T>(value: T | null): T {
  if (value === null) throw new Error('fixture lacks a value');
  return value;
}

describe('decideTakeover', () => {
  it.each(rows.map((row) => [row.name, row] as const))('%s', (_name, row) => {
    const decision = decideTakeover(row.observed);
    expect({ decision: decision.decision, rule: decision.rule }).toEqual({ decision: row.decision, rule: row.rule });
    expect(decision.reason.length).toBeGreaterThan(10);
  });

  it('covers every rule in the table', () => {
    const all: readonly TakeoverRule[] = [
      'takeover-in-progress', 'stale-request', 'primary-healthy', 'manual-mode-awaits-request', 'within-grace-period', 'no-secondary',
      'secondary-data-failed', 'secondary-resyncing', 'secondary-unreachable', 'bunker-unreachable', 'bunker-gap',
      'recovery-none-may-lose-writes', 'data-loss-allowed', 'drain-bunker',
    ];
    expect(new Set(rows.map((row) => row.rule))).toEqual(new Set(all));
  });

  it('names the backlog and the new epoch in the reason of a promotion', () => {
    expect(decideTakeover({ ...base, primary: down }).reason).toMatch(/drain 20 entries from bunker b into c, then promote it in epoch 4/);
  });
});
