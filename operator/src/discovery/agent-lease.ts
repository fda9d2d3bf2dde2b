// The agents' side of discovery, as the operator reads it: each agent keeps a Lease named
// bunker-agent-<node> in the operator's namespace, annotated with its gRPC address and the
// host its NBD server is reached on (agent/src/discovery/heartbeat-lease.ts writes it). The
// operator package cannot import the agent's, so the names are repeated here; both sides
// are checked against a real apiserver by test/integration/operator-*.test.ts.
import type { V1Lease } from '@kubernetes/client-node';
import { microTimeMs } from '@bunker/proto/micro-time';
import type { AgentFacts } from '../reconcile/observed.js';

export const AGENT_LEASE_PREFIX = 'bunker-agent-';
export const GRPC_ADDRESS_ANNOTATION = 'replication.bunker.dev/grpc-address';
export const NBD_HOST_ANNOTATION = 'replication.bunker.dev/nbd-host';
/** The agent labels its Lease with this component, which the operator's informer selects on. */
export const AGENT_LEASE_SELECTOR = 'app.kubernetes.io/component=agent';

export function agentLeaseName(node: string): string {
  return `${AGENT_LEASE_PREFIX}${node}`;
}

/** The node a Lease speaks for, or undefined if it is not an agent's Lease. */
export function nodeOfAgentLease(leaseName: string): string | undefined {
  return leaseName.startsWith(AGENT_LEASE_PREFIX) && leaseName.length > AGENT_LEASE_PREFIX.length
    ? leaseName.slice(AGENT_LEASE_PREFIX.length)
    : undefined;
}

/** What the operator needs of a Lease; renewTime arrives as a string or a Date (see micro-time). */
export function agentFactsFromLease(lease: V1Lease | undefined): AgentFacts {
  if (lease === undefined) return { kind: 'no-lease' };
  const annotations = lease.metadata?.annotations ?? {};
  return {
    kind: 'lease',
    grpcAddress: annotations[GRPC_ADDRESS_ANNOTATION] ?? '',
    nbdHost: annotations[NBD_HOST_ANNOTATION] ?? '',
    renewTimeMs: microTimeMs(lease.spec?.renewTime),
    leaseDurationSeconds: lease.spec?.leaseDurationSeconds ?? 0,
  };
}
