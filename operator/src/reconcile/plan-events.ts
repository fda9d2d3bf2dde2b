// Events are about changes, not states: one when the volume becomes Ready, one when it
// stops being Ready for a named reason, one when it becomes Degraded, one per role an agent
// is given. Comparing the previous status with the new one keeps a steady problem from
// raising an Event every reconcile; a repeat (after a status conflict) only bumps the
// Event's count, since the recorder names Events deterministically.
import type { Condition } from '../api/index.js';
import type { Action, EventSpec } from './actions.js';

export function transitionEvents(previous: readonly Condition[] | undefined, next: readonly Condition[]): EventSpec[] {
  const events: EventSpec[] = [];
  const changed = (type: string): Condition | undefined => {
    const after = next.find((condition) => condition.type === type);
    const before = previous?.find((condition) => condition.type === type);
    if (after === undefined) return undefined;
    return before?.status === after.status && before.reason === after.reason ? undefined : after;
  };
  const ready = changed('Ready');
  if (ready?.status === 'True') events.push({ type: 'Normal', reason: 'VolumeReady', message: ready.message, when: 'always' });
  else if (ready !== undefined && ready.reason !== 'Configuring' && ready.reason !== 'PrimaryNotServing') {
    events.push({ type: 'Warning', reason: ready.reason, message: ready.message, when: 'always' });
  }
  const degraded = changed('Degraded');
  if (degraded?.status === 'True') events.push({ type: 'Warning', reason: 'Degraded', message: `${degraded.reason}: ${degraded.message}`, when: 'always' });
  return events;
}

export function roleEvents(actions: readonly Action[]): EventSpec[] {
  return actions.flatMap((action): EventSpec[] => action.kind === 'configure'
    ? [{
      type: 'Normal', reason: 'RoleConfigured', when: 'applied',
      message: `${action.node} configured as ${action.intent.role} of ${action.intent.volume} in epoch ${action.intent.epoch}`,
    }]
    : []);
}
