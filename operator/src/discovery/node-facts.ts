// A Node as placement sees it: there or not, and whether its Ready condition is True. The
// informer hands over the client's V1Node (from a list) or the raw JSON (from a watch); both
// have the same field names and string values for what is read here.
import type { V1Node } from '@kubernetes/client-node';
import type { NodeFacts } from '../reconcile/observed.js';

export function nodeFactsFromNode(node: V1Node | undefined): NodeFacts {
  if (node === undefined) return { kind: 'missing' };
  const ready = node.status?.conditions?.find((condition) => condition.type === 'Ready');
  if (ready === undefined) return { kind: 'present', ready: false, reason: 'no Ready condition reported' };
  const why = ready.reason ?? `Ready is ${ready.status}`;
  return { kind: 'present', ready: ready.status === 'True', reason: why };
}
