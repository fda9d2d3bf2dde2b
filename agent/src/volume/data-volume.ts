// A replica's data volume: a sparse file preallocated to the volume's size (or a block device
// path). Entries are applied in log order as whole-block images, so applying one twice is
// harmless. Any I/O error marks the volume failed: the agent reports it and the operator
// treats a failed primary data volume as a reason for takeover; nothing retries silently.
//
// Small reads and applies run synchronously on the caller's thread while that is cheap (the
// page cache holds the data; see io/sync-io-gate.ts), else in the thread pool. Applies only
// fill the page cache: the change log, not the data volume, makes a write durable.
import { read as readCallback, readSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { BunkerError } from '@bunker/proto/bunker-error';
import type { Entry } from '../log/entry.js';
import { injectedFaults } from '../faults/injected-faults.js';
import { SyncIoGate } from '../io/sync-io-gate.js';

export class DataVolumeError extends BunkerError<'DataFailed' | 'InvalidArgument'> {}

const ZERO_CHUNK_BYTES = 1 << 20;
/** Writes up to this size may be applied with a synchronous pwrite (see above). */
export const SYNC_APPLY_BYTES_MAX = 256 * 1024;
/** Reads up to this size may be served with a synchronous pread. */
export const SYNC_READ_BYTES_MAX = 64 * 1024;
/** A cached small read takes a few µs; one that took this long went to the device. */
const SYNC_READ_SLOW_MS = 0.1;
/** A page-cache write takes µs; one that took this long was throttled by writeback. */
const SYNC_WRITE_SLOW_MS = 0.5;
const SYNC_GATE_CLOSED_MS = 1_000;

export class DataVolume {
  private failure: DataVolumeError | undefined;
  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    readonly sizeBytes: number,
    private readonly readGate: SyncIoGate,
    private readonly writeGate: SyncIoGate,
  ) {}

  /** `gates`: tests give their own (with a clock of theirs). */
  static async open(path: string, sizeBytes: number, gates: { readonly read?: SyncIoGate; readonly write?: SyncIoGate } = {}): Promise<DataVolume> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r+').catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        return open(path, 'w+');
      });
      const stat = await handle.stat();
      if (stat.isFile() && stat.size < sizeBytes) await handle.truncate(sizeBytes);
    } catch (error) {
      throw new DataVolumeError('DataFailed', `cannot open data volume ${path}: ${(error as Error).message}`, { cause: error, hint: 'check the data directory and its disk' });
    }
    return new DataVolume(handle, path, sizeBytes,
      gates.read ?? new SyncIoGate({ kind: 'data-read', slowMs: SYNC_READ_SLOW_MS, closedMs: SYNC_GATE_CLOSED_MS }),
      gates.write ?? new SyncIoGate({ kind: 'data-write', slowMs: SYNC_WRITE_SLOW_MS, closedMs: SYNC_GATE_CLOSED_MS }));
  }

  /** The error that failed this volume, if any: once failed it stays failed until reopened. */
  get failed(): DataVolumeError | undefined {
    return this.failure;
  }

  private check(offset: number, length: number): void {
    if (this.failure !== undefined) throw this.failure;
    if (offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new DataVolumeError('InvalidArgument', `range ${offset}+${length} is outside the volume (${this.sizeBytes} bytes)`);
    }
  }

  private fail(what: string, error: unknown): never {
    this.failure = new DataVolumeError('DataFailed', `data volume ${this.path}: ${what} failed: ${(error as Error).message}`, {
      cause: error, hint: 'the primary data volume is failing; the operator will take over on the secondary',
    });
    throw this.failure;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.check(offset, length);
    const buffer = Buffer.allocUnsafe(length);
    try {
      if (length <= SYNC_READ_BYTES_MAX && !injectedFaults.active && this.readGate.open) {
        this.readGate.run(() => this.readNow(buffer, offset));
        return buffer;
      }
      await injectedFaults.before('data', 'read');
      let done = 0;
      while (done < length) {
        const bytesRead = await this.readAt(buffer, done, length - done, offset + done);
        if (bytesRead === 0) {
          buffer.fill(0, done);
          break;
        }
        done += bytesRead;
      }
    } catch (error) {
      this.fail('read', error);
    }
    return buffer;
  }

  /** A synchronous positional read of all of `buffer` (past the end of a file reads zeroes). */
  private readNow(buffer: Buffer, offset: number): void {
    for (let done = 0; done < buffer.length; ) {
      const bytesRead = readSync(this.handle.fd, buffer, done, buffer.length - done, offset + done);
      if (bytesRead === 0) {
        buffer.fill(0, done);
        return;
      }
      done += bytesRead;
    }
  }

  /**
   * pread through the callback API: FileHandle.read adds a result object, a promise chain and
   * a handle reference per call (about a quarter more CPU per 4 KiB operation here).
   */
  private readAt(buffer: Buffer, at: number, length: number, position: number): Promise<number> {
    return new Promise((resolve, reject) => {
      readCallback(this.handle.fd, buffer, at, length, position, (error, bytesRead) => (error === null ? resolve(bytesRead) : reject(error)));
    });
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check(offset, data.length);
    try {
      await injectedFaults.before('data', 'write');
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await this.handle.write(data, done, data.length - done, offset + done);
        done += bytesWritten;
      }
    } catch (error) {
      this.fail('write', error);
    }
  }

  /** Zero (and trim: reads after a trim return zeroes here) a region. */
  async zero(offset: number, length: number): Promise<void> {
    this.check(offset, length);
    const chunk = Buffer.alloc(Math.min(length, ZERO_CHUNK_BYTES));
    for (let done = 0; done < length; done += chunk.length) {
      await this.write(offset + done, chunk.subarray(0, Math.min(chunk.length, length - done)));
    }
  }

  /**
   * Applies entries in order: writes of at most SYNC_APPLY_BYTES_MAX synchronously while the
   * write gate is open and no faults are injected (the test hooks are asynchronous), anything
   * else, and everything after it, asynchronously. Returns null when all were applied, else a
   * promise of the rest. Throws (or rejects) as `write`.
   */
  applyAll(entries: readonly Entry[]): Promise<void> | null {
    for (let index = 0; index < entries.length; index += 1) {
      const entry = entries[index];
      if (entry === undefined || entry.kind === 'flush') continue;
      if (entry.kind !== 'write' || entry.payload.length > SYNC_APPLY_BYTES_MAX || injectedFaults.active || !this.writeGate.open) {
        return this.applyEach(entries.slice(index));
      }
      this.check(entry.offset, entry.payload.length);
      this.writeGate.run(() => this.writeNow(entry.offset, entry.payload));
    }
    return null;
  }

  private async applyEach(entries: readonly Entry[]): Promise<void> {
    for (const entry of entries) await this.apply(entry);
  }

  /** A synchronous positional write of all of `data` (see the file's note). */
  private writeNow(offset: number, data: Uint8Array): void {
    try {
      for (let done = 0; done < data.length; ) done += writeSync(this.handle.fd, data, done, data.length - done, offset + done);
    } catch (error) {
      this.fail('write', error);
    }
  }

  /** Applies one log entry: the same entry applied twice leaves the same bytes. */
  async apply(entry: Entry): Promise<void> {
    switch (entry.kind) {
      case 'write':
        return this.write(entry.offset, entry.payload);
      case 'trim':
      case 'zero':
        return this.zero(entry.offset, entry.length);
      case 'flush':
        return;
      default: {
        const unknownKind: never = entry.kind;
        throw new DataVolumeError('InvalidArgument', `unknown entry kind ${String(unknownKind)}`);
      }
    }
  }

  async flush(): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    try {
      await injectedFaults.before('data', 'sync');
      await this.handle.datasync();
    } catch (error) {
      this.fail('fdatasync', error);
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
