// apply(): the plan's actions, in order, each idempotent. It stops at the first action that
// fails for an expected reason (an agent refusing or unreachable, a manifest the apiserver
// finds invalid) and returns that failure, which report() puts in status: such failures
// are operating outcomes with a stable code, for the user to see. Anything else (a status
// conflict on the finalizer, an apiserver outage) is thrown: the reconcile fails and is
// retried with backoff, as controller-runtime does with a returned error.
import { BunkerError } from '@bunker/proto/bunker-error';
import type { ConfigureRequest, DrainProgress, DrainRequest, ReleaseRequest, ResyncRequest } from '@bunker/proto';
import type { ReplicatedVolume } from '../api/index.js';
import { toConfigureRequest } from '../agents/configure-request.js';
import { KubeApiError } from '../kube/api-errors.js';
import { DrainProgressPublisher, type TakeoverPatcher } from '../takeover/drain-progress-publisher.js';
import { FINALIZER, type Action, type NbdEndpoint } from './actions.js';

export interface ApplyPorts {
  readonly volumes: {
    setFinalizers(volume: ReplicatedVolume, finalizers: readonly string[]): Promise<string>;
    /** Merge-patches status.takeover, conditional on resourceVersion; resolves with the new one. */
    patchTakeover(volume: ReplicatedVolume, ...args: Parameters<TakeoverPatcher>): ReturnType<TakeoverPatcher>;
  };
  readonly owned: { publish(volume: ReplicatedVolume, endpoint: NbdEndpoint | null): Promise<void> };
  readonly agents: {
    configure(address: string, request: ConfigureRequest): Promise<unknown>;
    release(address: string, request: ReleaseRequest): Promise<void>;
    drain(address: string, request: DrainRequest, onProgress: (progress: DrainProgress) => void): Promise<DrainProgress>;
    resync(address: string, request: ResyncRequest): Promise<unknown>;
  };
}

export interface ApplyFailure {
  readonly action: Action;
  /** Condition reason: AgentUnreachable, ConfigureRefused, ReleaseFailed or EndpointNotPublished. */
  readonly reason: string;
  /** The stable code of the error (the agent's, or the apiserver's). */
  readonly code: string;
  readonly message: string;
}

export interface ApplyOutcome {
  /** The volume's resourceVersion after the actions (a finalizer change moves it). */
  readonly resourceVersion: string;
  readonly failure: ApplyFailure | null;
  /** The finalizer was removed: the object is gone or going, there is no status to write. */
  readonly finalizerRemoved: boolean;
  /** The last progress of a drain action that finished (the target is promoted). */
  readonly drained?: DrainProgress;
}

export async function apply(volume: ReplicatedVolume, actions: readonly Action[], ports: ApplyPorts, now: () => number = Date.now): Promise<ApplyOutcome> {
  let resourceVersion = volume.metadata.resourceVersion;
  let finalizerRemoved = false;
  let drained: DrainProgress | undefined;
  for (const action of actions) {
    try {
      const current = { ...volume, metadata: { ...volume.metadata, resourceVersion } };
      if (action.kind === 'drain') {
        const publisher = new DrainProgressPublisher(resourceVersion, action.takeover, (rv, takeover) => ports.volumes.patchTakeover(current, rv, takeover), now);
        const request = { volume: action.volume, epoch: action.epoch, bunker: action.bunker, blockBytes: DRAIN_BLOCK_BYTES };
        try {
          drained = await ports.agents.drain(action.address, request, (progress) => publisher.offer(progress));
        } finally {
          resourceVersion = (await publisher.settle()).resourceVersion;
        }
        continue;
      }
      const next = await run(current, action, ports);
      if (next !== undefined) resourceVersion = next;
      if (action.kind === 'remove-finalizer') finalizerRemoved = true;
    } catch (error) {
      const failure = expectedFailure(action, error);
      if (failure === null) throw error;
      return { resourceVersion, failure, finalizerRemoved: false, ...(drained === undefined ? {} : { drained }) };
    }
  }
  return { resourceVersion, failure: null, finalizerRemoved, ...(drained === undefined ? {} : { drained }) };
}

/** The blocks a takeover drain fetches from the bunker. */
const DRAIN_BLOCK_BYTES = 4 * 1024 * 1024;

/** Runs one action; resolves with the new resourceVersion if it changed the volume object. */
async function run(volume: ReplicatedVolume, action: Action, ports: ApplyPorts): Promise<string | undefined> {
  const finalizers = volume.metadata.finalizers;
  switch (action.kind) {
    case 'add-finalizer':
      return finalizers.includes(FINALIZER) ? undefined : ports.volumes.setFinalizers(volume, [...finalizers, FINALIZER]);
    case 'remove-finalizer':
      return finalizers.includes(FINALIZER) ? ports.volumes.setFinalizers(volume, finalizers.filter((f) => f !== FINALIZER)) : undefined;
    case 'configure':
      await ports.agents.configure(action.address, toConfigureRequest(action.intent));
      return undefined;
    case 'release':
      await ports.agents.release(action.address, { volume: `${volume.metadata.namespace}/${volume.metadata.name}`, deleteData: action.deleteData });
      return undefined;
    case 'publish-endpoint':
      await ports.owned.publish(volume, action.endpoint);
      return undefined;
    case 'drain':
      return undefined;
    case 'resync':
      await ports.agents.resync(action.address, {
        volume: action.volume, epoch: action.epoch, source: { node: action.source.node, address: action.source.address },
        bytesPerSecondMax: action.bytesPerSecondMax, full: false,
      });
      return undefined;
  }
}

function expectedFailure(action: Action, error: unknown): ApplyFailure | null {
  if (!BunkerError.is(error)) return null;
  const message = error.message;
  if (error instanceof KubeApiError) {
    return action.kind === 'publish-endpoint' && error.code === 'Invalid' ? { action, reason: 'EndpointNotPublished', code: error.code, message } : null;
  }
  switch (action.kind) {
    case 'configure':
      return { action, reason: error.code === 'Unavailable' ? 'AgentUnreachable' : 'ConfigureRefused', code: error.code, message };
    case 'release':
      return { action, reason: 'ReleaseFailed', code: error.code, message };
    case 'drain':
      return { action, reason: error.code === 'Unavailable' ? 'AgentUnreachable' : 'DrainFailed', code: error.code, message };
    case 'resync':
      return { action, reason: error.code === 'Unavailable' ? 'AgentUnreachable' : 'ResyncRefused', code: error.code, message };
    default:
      return null;
  }
}
