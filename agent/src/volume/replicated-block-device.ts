// The volume as the NBD server sees it on the primary: writes, trims, zeroes and flushes go
// through the replication core (sequenced, logged locally and at the bunker, applied, then
// answered); reads go straight to the data volume, which holds every acknowledged write
// because the core answers a write only after applying it. Core refusals become the NBD
// device error codes, so the client gets the protocol's errno and never a false success.
import { blockDeviceError, type BlockDevice, type BlockDeviceErrorCode, type WriteOptions, type WriteZeroesOptions } from '../nbd/block-device.js';
import type { ConsumerOp, RequestFailure } from '../replication/index.js';
import { VolumeBusyError, type VolumeReplica } from './volume-replica.js';
import { LOG_FULL_WAIT_MS } from './volume-storage.js';

const BLOCK_BYTES = 4096;
/** A request refused for back-pressure is retried this often, at most this many times. */
const BACKPRESSURE_RETRY_MS = 2;
const BACKPRESSURE_RETRIES_MAX = 5_000;
/** A write refused for a full change log is retried this often (room comes back with trims). */
const LOG_FULL_RETRY_MS = 20;

function codeFor(failure: RequestFailure): BlockDeviceErrorCode {
  switch (failure.kind) {
    case 'NotPrimary':
    case 'StaleEpoch':
    case 'Recovering':
      return 'not-primary';
    case 'BunkerUnavailable':
    case 'SecondaryUnavailable':
      return 'recovery-copy-unavailable';
    case 'DataVolumeFailed':
      return 'io-error';
    case 'InvalidRequest':
      return 'invalid-request';
    case 'Backpressure':
      return 'shutting-down';
    case 'LogFull':
      return 'no-space';
  }
}

export class ReplicatedBlockDevice implements BlockDevice {
  readonly minimumBlockBytes = BLOCK_BYTES;
  readonly preferredBlockBytes = BLOCK_BYTES;
  readonly maximumPayloadBytes = 4 * 1024 * 1024;
  // Every write is sequenced by one core; a flush waits for everything before it in that order.
  readonly flushCoversAllWrites = true;

  /** `onPushback`: a limit refused or delayed a request (the core's window, the event queue). */
  constructor(
    private readonly volume: Pick<VolumeReplica, 'submit' | 'data' | 'record' | 'name'>,
    private readonly onPushback: (limit: string) => void = () => undefined,
    /** fillPolicy block: how long a write waits for room in a full change log. */
    private readonly logFullWaitMs = LOG_FULL_WAIT_MS,
  ) {}

  get sizeBytes(): number {
    return this.volume.record.shape.sizeBytes;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const data = this.volume.data;
    if (data === null) throw blockDeviceError('not-primary', `volume ${this.volume.name} has no data volume on this node`);
    try {
      return await data.read(offset, length);
    } catch (error) {
      throw blockDeviceError('io-error', `read failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  write(offset: number, data: Uint8Array, options: WriteOptions): Promise<void> {
    return this.run('write', offset, data.length, data, options.fua);
  }

  trim(offset: number, length: number, options: WriteOptions): Promise<void> {
    return this.run('trim', offset, length, new Uint8Array(0), options.fua);
  }

  writeZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    return this.run('zero', offset, length, new Uint8Array(0), options.fua);
  }

  flush(): Promise<void> {
    return this.run('flush', 0, 0, new Uint8Array(0), false);
  }

  private async run(op: ConsumerOp, offset: number, length: number, payload: Uint8Array, fua: boolean): Promise<void> {
    let logFullSince: number | undefined;
    for (let attempt = 0; ; attempt += 1) {
      const answer = await this.volume.submit({ op, offset, length, payload, fua }).catch((error: unknown) => {
        if (error instanceof VolumeBusyError) this.onPushback('event-queue');
        throw blockDeviceError('shutting-down', `${op} refused: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      });
      if (answer.kind === 'ok') return;
      const failure = answer.failure;
      if (failure.kind === 'Backpressure') this.onPushback('replica-window');
      if (failure.kind === 'Backpressure' && attempt < BACKPRESSURE_RETRIES_MAX) {
        await new Promise((r) => setTimeout(r, BACKPRESSURE_RETRY_MS));
        continue;
      }
      if (failure.kind === 'LogFull') {
        // Nothing was written: the core refused the write before giving it a sequence. Under
        // fillPolicy fail it is refused at once; otherwise it waits for the room the
        // secondary's progress frees (trims), within logFullWaitMs.
        if (logFullSince === undefined) this.onPushback('log-full');
        logFullSince ??= Date.now();
        if (this.volume.record.shape.fillPolicy !== 'fail' && Date.now() - logFullSince < this.logFullWaitMs) {
          await new Promise((r) => setTimeout(r, LOG_FULL_RETRY_MS));
          continue;
        }
      }
      throw blockDeviceError(codeFor(failure), `${op} refused: ${describe(failure)}`, { hint: hintFor(failure) });
    }
  }
}

function describe(failure: RequestFailure): string {
  switch (failure.kind) {
    case 'NotPrimary': return `this replica is ${failure.role}, not primary`;
    case 'StaleEpoch': return `epoch ${failure.epoch} was fenced by epoch ${failure.newerEpoch}`;
    case 'BunkerUnavailable': return `no durable acknowledgement from the bunker for ${failure.silentTicks} ticks`;
    case 'SecondaryUnavailable': return `no durable acknowledgement from the secondary for ${failure.silentTicks} ticks`;
    case 'DataVolumeFailed': return `data volume failed: ${failure.detail}`;
    case 'Recovering': return `recovering (${failure.reason})`;
    case 'Backpressure': return `too many writes in flight (${failure.pendingRequests})`;
    case 'InvalidRequest': return failure.reason;
    case 'LogFull': return `the change log is full (${failure.usedBytes} of ${failure.logBytesMax} bytes in use)`;
  }
}

function hintFor(failure: RequestFailure): string {
  switch (failure.kind) {
    case 'BunkerUnavailable': return 'the recovery node is unreachable; writes resume when it returns or a new one is placed';
    case 'LogFull': return 'the secondary lags (or is unreachable) and the log keeps everything it lacks; writes resume as it catches up, or use a larger spec.log.size';
    default: return '';
  }
}
