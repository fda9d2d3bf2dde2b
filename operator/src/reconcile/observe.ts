// observe(): everything plan() needs about one volume, read now. The volume, its Nodes and
// its agents' Leases come from the informer caches (no apiserver round trip); each role's
// replica comes from its agent's Status call, all three at once, each with a deadline, and
// only for agents whose Lease is live (a dead agent's address is not dialled).
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import type { StatusResponse } from '@bunker/proto';
import { tryParseReplicatedVolume, type FieldIssue, type ReplicatedVolume } from '../api/index.js';
import { agentFactsFromLease } from '../discovery/agent-lease.js';
import { nodeFactsFromNode } from '../discovery/node-facts.js';
import { liveAgentAddress, roleNode, volumeKey, type Observed, type ObservedRole, type ReplicaFacts, type RoleName } from './observed.js';
import { replicaFacts, unreachable } from './replica-report.js';

/** Read access to the informer caches. */
export interface ClusterView {
  volume(namespace: string, name: string): unknown;
  node(name: string): V1Node | undefined;
  agentLease(node: string): V1Lease | undefined;
}

export interface AgentStatusSource {
  status(address: string, volume: string): Promise<StatusResponse>;
}

export interface ObserveSources {
  readonly cluster: ClusterView;
  readonly agents: AgentStatusSource;
  readonly now: () => number;
}

export type ObserveResult =
  | { readonly kind: 'gone' }
  /** Stored before a validation rule existed, or under a newer CRD: reported, not reconciled. */
  | { readonly kind: 'invalid'; readonly issues: readonly FieldIssue[] }
  | { readonly kind: 'observed'; readonly observed: Observed };

export async function observe(key: string, sources: ObserveSources): Promise<ObserveResult> {
  const [namespace = '', name = ''] = key.split('/');
  const raw = sources.cluster.volume(namespace, name);
  if (raw === undefined) return { kind: 'gone' };
  const parsed = tryParseReplicatedVolume(raw);
  if (!parsed.ok) return { kind: 'invalid', issues: parsed.issues };
  const volume = parsed.value;
  const nowMs = sources.now();
  const [primary, bunker, secondary] = await Promise.all([
    observeRole(volume, 'primary', nowMs, sources),
    observeRole(volume, 'bunker', nowMs, sources),
    observeRole(volume, 'secondary', nowMs, sources),
  ]);
  const spares = volume.spec.placement.spares.map((node) => ({
    node, nodeFacts: nodeFactsFromNode(sources.cluster.node(node)), agent: agentFactsFromLease(sources.cluster.agentLease(node)),
  }));
  return { kind: 'observed', observed: { nowMs, volume, roles: { primary, bunker, secondary }, spares } };
}

async function observeRole(volume: ReplicatedVolume, role: RoleName, nowMs: number, sources: ObserveSources): Promise<ObservedRole> {
  const node = roleNode(volume, role);
  const agent = agentFactsFromLease(sources.cluster.agentLease(node));
  const address = liveAgentAddress(agent, nowMs);
  const replica: ReplicaFacts = address === undefined
    ? { kind: 'not-asked' }
    : await sources.agents.status(address, volumeKey(volume)).then((response) => replicaFacts(response, volumeKey(volume)), unreachable);
  return { role, node, nodeFacts: nodeFactsFromNode(sources.cluster.node(node)), agent, replica };
}
