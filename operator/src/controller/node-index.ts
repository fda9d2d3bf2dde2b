// Which volumes a Node or an agent Lease matters to, and whether a change to either matters
// at all. Leases are renewed every few seconds and Nodes' status is refreshed by kubelets;
// only a change in what plan() reads (an agent's addresses, a Node's Ready) enqueues the
// volumes on that node. Silent expiry of a Lease brings no event: plan()'s RequeueAfter
// looks again just past each Lease's expiry instead.
import type { KubernetesObject } from '@kubernetes/client-node';
import { tryParseReplicatedVolume } from '../api/index.js';
import { roleNode, volumeKey, type RoleName } from '../reconcile/observed.js';

const ROLES: readonly RoleName[] = ['primary', 'bunker', 'secondary'];

/** Keys of the volumes that place a role on `node` (by status, else by spec); unparsable ones are skipped. */
export function volumesOnNode(volumes: readonly unknown[], node: string): string[] {
  const keys: string[] = [];
  for (const raw of volumes) {
    const parsed = tryParseReplicatedVolume(raw);
    if (!parsed.ok) continue;
    const volume = parsed.value;
    if (ROLES.some((role) => roleNode(volume, role) === node || volume.spec.placement[role].node === node)) keys.push(volumeKey(volume));
  }
  return keys;
}

/** Remembers a fingerprint per node and says whether a new one differs. */
export class FingerprintMemory {
  private readonly seen = new Map<string, string>();
  /** Entries beyond this are forgotten oldest first: a bound, not an expected size. */
  constructor(private readonly entriesMax = 10_000) {}

  changed(node: string, fingerprint: string | undefined): boolean {
    const before = this.seen.get(node);
    if (fingerprint === undefined) {
      this.seen.delete(node);
      return before !== undefined;
    }
    this.seen.delete(node);
    this.seen.set(node, fingerprint);
    if (this.seen.size > this.entriesMax) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return before !== fingerprint;
  }
}

export function objectName(object: KubernetesObject): string {
  return object.metadata?.name ?? '';
}
