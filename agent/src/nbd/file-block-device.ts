// A BlockDevice on a plain file: the baseline the replicated volume is measured against and the
// device every NBD test serves. The file is sparse (extended with ftruncate, never filled) and
// all I/O is positional, so concurrent requests need no lock and never move a file pointer.
//
// Durability: a FUA operation and `flush()` return after fdatasync. Concurrent flushes share one
// fdatasync: a flush joins the next sync to *start* after it was called (never one already
// running, which may have begun before the caller's writes completed), so N waiting FUA writes
// cost about two syncs, not N.
//
// Trim is a no-op. The spec lets a server ignore it (the contents of a trimmed range are undefined
// until rewritten), and Node has no fallocate(PUNCH_HOLE); a FUA on an ignored trim is satisfied
// without a sync, which the spec also allows. Write-zeroes writes real zero bytes, so the range is
// always allocated and NBD_CMD_FLAG_NO_HOLE is honoured trivially.
//
// After a failed fdatasync the device refuses all further writes and flushes: the kernel may
// already have dropped the dirty pages it could not write, so a later sync that "succeeds" would
// prove nothing (the fsync-gate lesson).
import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import {
  assertInDevice,
  blockDeviceError,
  type BlockDevice,
  type BlockDeviceError,
  type BlockDeviceErrorCode,
  type WriteOptions,
  type WriteZeroesOptions,
} from './block-device.js';

export interface FileBlockDeviceOptions {
  readonly path: string;
  /** Size to expose. A shorter file is extended sparsely; a longer one is refused. Default: the file's size. */
  readonly sizeBytes?: number;
  readonly minimumBlockBytes?: number;
  readonly preferredBlockBytes?: number;
  readonly maximumPayloadBytes?: number;
}

/** Zero bytes shared by every write-zeroes; never written to. */
const ZEROES = new Uint8Array(1024 * 1024);

export class FileBlockDevice implements BlockDevice {
  readonly flushCoversAllWrites = true; // one file, one page cache: fdatasync covers every writer
  private closed = false;
  private failure: BlockDeviceError | null = null;
  private syncRunning: Promise<void> | null = null;
  private syncQueued: Promise<void> | null = null;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    readonly sizeBytes: number,
    readonly minimumBlockBytes: number,
    readonly preferredBlockBytes: number,
    readonly maximumPayloadBytes: number,
  ) {}

  /** Opens (creating if absent) the file at `options.path`. */
  static async open(options: FileBlockDeviceOptions): Promise<FileBlockDevice> {
    const handle = await fs.open(options.path, constants.O_RDWR | constants.O_CREAT, 0o600).catch((error: unknown) => {
      throw deviceErrorFromSystem(error, `cannot open ${options.path}`);
    });
    try {
      const fileBytes = (await handle.stat()).size;
      const sizeBytes = options.sizeBytes ?? fileBytes;
      if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
        throw blockDeviceError('invalid-request', `size ${sizeBytes} is not a byte count`);
      }
      if (fileBytes > sizeBytes) {
        throw blockDeviceError('invalid-request', `${options.path} holds ${fileBytes} bytes, more than the ${sizeBytes} asked for`, {
          hint: 'refusing to hide data past the end; shrink the file explicitly if that is intended',
        });
      }
      if (fileBytes < sizeBytes) await handle.truncate(sizeBytes);
      return new FileBlockDevice(handle, options.path, sizeBytes, options.minimumBlockBytes ?? 512,
        options.preferredBlockBytes ?? 4096, options.maximumPayloadBytes ?? 32 * 1024 * 1024);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.assertUsable(offset, length);
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.io(() => this.handle.read(buffer, done, length - done, offset + done));
      // The file is never shorter than the device unless someone truncated it behind our back;
      // what is missing reads as the zeroes a sparse file would have returned.
      if (bytesRead === 0) {
        buffer.fill(0, done);
        break;
      }
      done += bytesRead;
    }
    return buffer;
  }

  async write(offset: number, data: Uint8Array, options: WriteOptions): Promise<void> {
    this.assertWritable(offset, data.length);
    await this.writeAll(offset, data);
    if (options.fua) await this.flush();
  }

  async trim(offset: number, length: number, _options: WriteOptions): Promise<void> {
    this.assertWritable(offset, length);
  }

  async writeZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    this.assertWritable(offset, length);
    for (let done = 0; done < length; done += ZEROES.length) {
      await this.writeAll(offset + done, ZEROES.subarray(0, Math.min(ZEROES.length, length - done)));
    }
    if (options.fua) await this.flush();
  }

  flush(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(blockDeviceError('shutting-down', `${this.path} is closed`));
    if (this.syncRunning === null) return this.startSync();
    // A sync is running, but it may have started before the caller's writes completed.
    this.syncQueued ??= this.syncRunning.catch(() => undefined).then(() => {
      this.syncQueued = null;
      return this.startSync();
    });
    return this.syncQueued;
  }

  /** Syncs and closes the file. Callers stop issuing requests first (the server does, on removal). */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.failure === null) await this.flush().catch(() => undefined);
    this.closed = true;
    await this.handle.close();
  }

  private startSync(): Promise<void> {
    const sync = this.io(() => this.handle.datasync()).catch((error: unknown) => {
      this.failure ??= blockDeviceError('io-error', `fdatasync of ${this.path} failed; the device refuses writes from now on`, {
        cause: error,
        hint: 'the data written since the last successful flush may be lost; check the disk, then reopen',
      });
      throw this.failure;
    }).finally(() => {
      if (this.syncRunning === sync) this.syncRunning = null;
    });
    this.syncRunning = sync;
    return sync;
  }

  private async writeAll(offset: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.io(() => this.handle.write(data, done, data.length - done, offset + done));
      done += bytesWritten;
    }
  }

  private async io<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw deviceErrorFromSystem(error, `I/O on ${this.path} failed`);
    }
  }

  private assertUsable(offset: number, length: number): void {
    if (this.closed) throw blockDeviceError('shutting-down', `${this.path} is closed`);
    assertInDevice(this.sizeBytes, offset, length);
  }

  private assertWritable(offset: number, length: number): void {
    this.assertUsable(offset, length);
    if (this.failure !== null) throw this.failure;
  }
}

/** Classifies a Node system error by its errno name (a stable code, not its message). */
const SYSTEM_CODES: Readonly<Record<string, BlockDeviceErrorCode>> = {
  ENOSPC: 'no-space',
  EDQUOT: 'no-space',
  EFBIG: 'no-space',
  EROFS: 'read-only',
  EACCES: 'read-only',
  EPERM: 'read-only',
  EBADF: 'shutting-down',
};

function deviceErrorFromSystem(error: unknown, message: string): BlockDeviceError {
  const systemCode = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : '';
  const code = Object.hasOwn(SYSTEM_CODES, systemCode) ? SYSTEM_CODES[systemCode] ?? 'io-error' : 'io-error';
  return blockDeviceError(code, `${message}: ${systemCode || 'unknown error'}`, { cause: error });
}
