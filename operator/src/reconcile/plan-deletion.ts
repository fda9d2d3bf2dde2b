// Deletion through the finalizer: every live agent releases its replica (deleting the files
// under reclaimPolicy Delete), primary first so it stops serving before its followers go,
// and only then is the finalizer removed. Release is idempotent on the agent, so a
// reconcile interrupted halfway simply runs again. A role whose agent does not report
// (no Lease, or an expired one) cannot be asked: it is skipped with a Warning Event rather
// than holding the object forever, since that node may never come back.
import type { ReplicatedVolumeStatus } from '../api/index.js';
import { FINALIZER, type Action, type EventSpec, type Plan } from './actions.js';
import { settleConditions } from './conditions.js';
import { liveAgentAddress, RELEASE_ORDER, volumeKey, type Observed } from './observed.js';
import { REQUEUE_PROGRESS_MS } from './requeue.js';

export function planDeletion(observed: Observed): Plan {
  const { volume, nowMs } = observed;
  const previous = volume.status ?? {};
  // Not ours to hold (never reconciled, or released already): nothing to do, nothing to write.
  if (!volume.metadata.finalizers.includes(FINALIZER)) return { actions: [], status: previous, events: [], requeueAfterMs: 0 };
  const deleteData = volume.spec.reclaimPolicy === 'Delete';
  const actions: Action[] = [];
  const events: EventSpec[] = [];
  for (const role of RELEASE_ORDER) {
    const { node, agent } = observed.roles[role];
    const address = liveAgentAddress(agent, nowMs);
    if (address === undefined) {
      events.push({ type: 'Warning', reason: 'ReleaseSkipped', message: `no agent reports from ${role} node ${node}: its replica of ${volumeKey(volume)} was not released`, when: 'always' });
    } else {
      actions.push({ kind: 'release', role, node, address, deleteData });
    }
  }
  actions.push({ kind: 'remove-finalizer' });
  const files = deleteData ? 'files deleted (reclaimPolicy Delete)' : 'files kept (reclaimPolicy Retain)';
  const released = actions.flatMap((action) => (action.kind === 'release' ? [action.node] : []));
  events.push({ type: 'Normal', reason: 'Released', message: `released on ${released.join(', ') || 'no node'}; ${files}`, when: 'applied' });
  const generation = volume.metadata.generation;
  const status: ReplicatedVolumeStatus = {
    ...previous,
    phase: 'Deleting',
    observedGeneration: generation,
    conditions: [
      ...settleConditions(
        [{ type: 'Ready', status: 'False', reason: 'Deleting', message: `releasing the replicas; ${files}` }],
        previous.conditions, generation, new Date(nowMs).toISOString(),
      ),
      ...(previous.conditions ?? []).filter((condition) => condition.type !== 'Ready'),
    ],
  };
  return { actions, status, events, requeueAfterMs: REQUEUE_PROGRESS_MS };
}
