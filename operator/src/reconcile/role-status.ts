// status.roles, status.lag and status.endpoint from the role checks. Numbers come from what
// the agents reported in this reconcile; when an agent cannot be asked, the figures it last
// gave stay (status says "as its agent last reported it") but its health says Unreachable.
import type { EndpointStatus, LagStatus, ReplicaHealth, ReplicaState, RoleStatus, RoleStatuses } from '../api/index.js';
import type { NbdEndpoint } from './actions.js';
import type { AgentFacts, RoleName } from './observed.js';
import type { RoleCheck } from './role-check.js';

type Checks = Readonly<Record<RoleName, RoleCheck>>;

export function roleStatuses(checks: Checks, previous: RoleStatuses | undefined, agents: Readonly<Record<RoleName, AgentFacts>>): RoleStatuses {
  return {
    primary: roleStatus(checks.primary, previous?.primary, agents.primary),
    bunker: roleStatus(checks.bunker, previous?.bunker, agents.bunker),
    secondary: roleStatus(checks.secondary, previous?.secondary, agents.secondary),
  };
}

function roleStatus(check: RoleCheck, previous: RoleStatus | undefined, agent: AgentFacts): RoleStatus {
  const report = check.report;
  const samePlace = previous?.node === check.node;
  const durableSeq = report?.durableSeq ?? (samePlace ? previous?.durableSeq : undefined);
  // The bunker keeps a log copy and no data volume: it has nothing applied.
  const appliedSeq = check.role === 'bunker' ? undefined : report?.appliedSeq ?? (samePlace ? previous?.appliedSeq : undefined);
  const address = agent.kind === 'lease' && agent.grpcAddress !== '' ? agent.grpcAddress : samePlace ? previous?.address : undefined;
  return {
    node: check.node,
    state: stateOf(check),
    ...(durableSeq === undefined ? {} : { durableSeq }),
    ...(appliedSeq === undefined ? {} : { appliedSeq }),
    health: healthOf(check),
    ...(address === undefined ? {} : { address }),
  };
}

function stateOf(check: RoleCheck): ReplicaState {
  if (check.serving) return 'Serving';
  if (check.configured && check.role !== 'primary') return 'Replicating';
  return 'Pending';
}

function healthOf(check: RoleCheck): ReplicaHealth {
  switch (check.problem?.reason) {
    case 'NodeNotReady':
    case 'AgentNotReporting':
    case 'AgentUnreachable':
      return 'Unreachable';
    case 'NodeNotFound':
      return 'Unknown';
    default:
      return check.report?.health ?? 'Unknown';
  }
}

/** How far the secondary is behind, as the serving primary sees it; the last figures otherwise. */
export function lagStatus(primary: RoleCheck, previous: LagStatus | undefined): LagStatus | undefined {
  const report = primary.report;
  if (!primary.serving || report === undefined) return previous;
  return {
    entries: Math.max(0, report.durableSeq - report.secondaryDurableSeq),
    bytes: report.secondaryLagBytes,
    seconds: Math.round(report.secondaryLagSeconds),
  };
}

/** Where the serving primary takes NBD connections: the host its Lease announces, the port it reports. */
export function nbdEndpoint(primary: RoleCheck, agent: AgentFacts): NbdEndpoint | null {
  const address = primary.serving ? primary.report?.nbdAddress ?? '' : '';
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) return null;
  const announced = agent.kind === 'lease' ? agent.nbdHost : '';
  return { node: primary.node, host: announced === '' ? address.slice(0, at) : announced, port };
}

export function endpointStatus(service: string, endpoint: NbdEndpoint | null): EndpointStatus {
  return endpoint === null ? { service } : { service, address: `${endpoint.host}:${endpoint.port}` };
}
