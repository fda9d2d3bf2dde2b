// The three agent calls a reconcile makes, addressed by the agent's gRPC address, over the
// cached connections. Deadlines are short: a reconcile must not hang on one dead agent, and
// whatever did not answer is asked again at the next reconcile.
import type { ConfigureRequest, DrainProgress, DrainRequest, ReleaseRequest, ResyncRequest, ResyncResponse, StatusResponse } from '@bunker/proto';
import type { AgentConnections } from './agent-connection.js';

export interface AgentPort {
  status(address: string, volume: string): Promise<StatusResponse>;
  configure(address: string, request: ConfigureRequest): Promise<unknown>;
  release(address: string, request: ReleaseRequest): Promise<void>;
  /** A takeover drain, reporting each progress message; resolves with the last once the target is promoted. */
  drain(address: string, request: DrainRequest, onProgress: (progress: DrainProgress) => void): Promise<DrainProgress>;
  /** Starts or resumes a failback resynchronization; answers at once. */
  resync(address: string, request: ResyncRequest): Promise<ResyncResponse>;
}

export interface AgentDeadlines {
  readonly statusMs: number;
  /** Configure persists the intent and may create the volume's files: allow it more. */
  readonly configureMs: number;
  readonly releaseMs: number;
  /** A drain replays the bunker's backlog: the reconcile waits for it this long, then retries. */
  readonly drainMs: number;
}

export const DEFAULT_AGENT_DEADLINES: AgentDeadlines = { statusMs: 2_000, configureMs: 15_000, releaseMs: 15_000, drainMs: 60_000 };

export function agentPort(connections: AgentConnections, deadlines: AgentDeadlines = DEFAULT_AGENT_DEADLINES): AgentPort {
  return {
    status: (address, volume) => connections.get(address).status(volume, { deadlineMs: deadlines.statusMs }),
    configure: (address, request) => connections.get(address).configure(request, { deadlineMs: deadlines.configureMs }),
    release: (address, request) => connections.get(address).release(request, { deadlineMs: deadlines.releaseMs }),
    drain: (address, request, onProgress) => connections.get(address).drain(request, onProgress, { deadlineMs: deadlines.drainMs }),
    resync: (address, request) => connections.get(address).resync(request, { deadlineMs: deadlines.configureMs }),
  };
}
