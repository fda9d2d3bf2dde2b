// One role of one volume, judged: is its node there, does its agent report, does the agent
// hold the role in the recorded epoch, is the replica healthy, and (for the primary) does it
// serve. The first thing wrong is the role's problem, named by a reason that the conditions
// and Events reuse; problems are ordered by how far from the replica they are, so the
// operator reports the cause ("node missing"), not the symptom ("not configured").
import type { Epoch, NodeName } from '@bunker/proto/ids';
import { agentLeaseName } from '../discovery/agent-lease.js';
import { leaseExpiresInMs, liveAgentAddress, type ObservedRole, type ReplicaReport, type RoleName } from './observed.js';

export type RoleProblemReason =
  | 'NodeNotFound'
  | 'NodeNotReady'
  | 'AgentNotReporting'
  | 'AgentUnreachable'
  | 'DataFailed'
  | 'LogFailed'
  | 'BunkerUnreachable'
  | 'NotConfigured'
  | 'PrimaryNotServing';

/** Most severe first: the reason a condition names when several roles have problems. */
export const PROBLEM_SEVERITY: readonly RoleProblemReason[] = [
  'NodeNotFound', 'NodeNotReady', 'AgentNotReporting', 'AgentUnreachable', 'DataFailed', 'LogFailed', 'BunkerUnreachable',
  'NotConfigured', 'PrimaryNotServing',
];

export interface RoleProblem {
  readonly reason: RoleProblemReason;
  readonly message: string;
}

export interface RoleCheck {
  readonly role: RoleName;
  readonly node: NodeName;
  /** gRPC address of the agent if it is live now. */
  readonly address: string | undefined;
  /** What the agent last said about its replica, whatever its role and epoch. */
  readonly report: ReplicaReport | undefined;
  /** The agent holds this role in the recorded epoch. */
  readonly configured: boolean;
  /** Primary only: configured and exporting the volume over NBD. */
  readonly serving: boolean;
  readonly problem: RoleProblem | null;
}

export function checkRole(observed: ObservedRole, epoch: Epoch | undefined, nowMs: number): RoleCheck {
  const { role, node, replica } = observed;
  const report = replica.kind === 'reported' ? replica.report : undefined;
  // A reopened primary waits for the operator to confirm its role: configure it again.
  const configured = report !== undefined && epoch !== undefined && report.role === role && report.epoch === epoch && report.awaitingConfirmation !== true;
  const serving = configured && role === 'primary' && report.nbdAddress !== '';
  return {
    role, node, address: liveAgentAddress(observed.agent, nowMs), report, configured, serving,
    problem: problemOf(observed, epoch, nowMs, report, configured),
  };
}

function problemOf(observed: ObservedRole, epoch: Epoch | undefined, nowMs: number, report: ReplicaReport | undefined, configured: boolean): RoleProblem | null {
  const { role, node, nodeFacts, agent, replica } = observed;
  const what = `${role} node ${node}`;
  if (nodeFacts.kind === 'missing') return { reason: 'NodeNotFound', message: `${what} does not exist: no Node object of that name` };
  if (!nodeFacts.ready) return { reason: 'NodeNotReady', message: `${what} is not Ready (${nodeFacts.reason})` };
  const lease = agentLeaseName(node);
  if (agent.kind === 'no-lease') return { reason: 'AgentNotReporting', message: `no agent reports from ${what}: Lease ${lease} not found` };
  if (agent.grpcAddress === '') return { reason: 'AgentNotReporting', message: `the agent on ${what} has not announced its gRPC address in Lease ${lease}` };
  const expiresInMs = leaseExpiresInMs(agent, nowMs);
  if (expiresInMs <= 0) {
    const age = agent.renewTimeMs === undefined ? 'was never renewed' : `expired ${Math.round(-expiresInMs / 1000)} s ago`;
    return { reason: 'AgentNotReporting', message: `the agent on ${what} stopped reporting: Lease ${lease} ${age}` };
  }
  if (replica.kind === 'unreachable') {
    return { reason: 'AgentUnreachable', message: `the agent on ${what} at ${agent.grpcAddress} did not answer Status: ${replica.code}: ${replica.message}` };
  }
  if (epoch === undefined) return { reason: 'NotConfigured', message: `${what} waits for the first epoch to be recorded` };
  if (!configured) {
    const holds = report === undefined ? 'holds nothing for the volume'
      : report.awaitingConfirmation === true ? `restarted as ${report.role} in epoch ${report.epoch} and waits for its role to be confirmed`
        : `holds role ${report.role} in epoch ${report.epoch}`;
    return { reason: 'NotConfigured', message: `${what} ${holds}; it is configured as ${role} in epoch ${epoch}` };
  }
  if (report !== undefined && report.health !== 'Healthy' && isHealthReason(report.health)) {
    const detail = report.healthMessage === '' ? '' : `: ${report.healthMessage}`;
    return { reason: report.health, message: `${what} reports ${report.health}${detail}` };
  }
  if (role === 'primary' && report?.nbdAddress === '') return { reason: 'PrimaryNotServing', message: `${what} is configured but does not serve NBD yet` };
  return null;
}

function isHealthReason(health: string): health is 'DataFailed' | 'LogFailed' | 'BunkerUnreachable' {
  return health === 'DataFailed' || health === 'LogFailed' || health === 'BunkerUnreachable';
}

/** The most severe problem among the roles, or null when every role is fine. */
export function worstProblem(checks: readonly RoleCheck[]): RoleProblem | null {
  let worst: RoleProblem | null = null;
  for (const check of checks) {
    const problem = check.problem;
    if (problem === null) continue;
    if (worst === null || PROBLEM_SEVERITY.indexOf(problem.reason) < PROBLEM_SEVERITY.indexOf(worst.reason)) worst = problem;
  }
  return worst;
}
