// A replica's data volume: a sparse file preallocated to the volume's size (or a block device
// path). Entries are applied in log order as whole-block images, so applying one twice is
// harmless. Any I/O error marks the volume failed: the agent reports it and the operator
// treats a failed primary data volume as a reason for takeover; nothing retries silently.
import { open, type FileHandle } from 'node:fs/promises';
import { BunkerError } from '@bunker/proto/bunker-error';
import type { Entry } from '../log/entry.js';
import { injectedFaults } from '../faults/injected-faults.js';

export class DataVolumeError extends BunkerError<'DataFailed' | 'InvalidArgument'> {}

const ZERO_CHUNK_BYTES = 1 << 20;

export class DataVolume {
  private failure: DataVolumeError | undefined;

  private constructor(private readonly handle: FileHandle, readonly path: string, readonly sizeBytes: number) {}

  static async open(path: string, sizeBytes: number): Promise<DataVolume> {
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
    return new DataVolume(handle, path, sizeBytes);
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
      await injectedFaults.before('data', 'read');
      let done = 0;
      while (done < length) {
        const { bytesRead } = await this.handle.read(buffer, done, length - done, offset + done);
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
