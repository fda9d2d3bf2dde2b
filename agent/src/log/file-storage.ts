// Storage over a file (or block device) through node:fs/promises: positional reads, one
// vectored write per call (pwritev), and fdatasync for durability. Node errors are thrown
// as they come, except that creating and opening wrap them in LogError Io with the path.
//
// A small vectored write is issued synchronously on the caller's thread while that is cheap
// (io/sync-io-gate.ts): it only fills the page cache, and the fdatasync that follows, which
// waits on the device, stays in the thread pool.
import { writevSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LogError } from './errors.js';
import type { Storage } from './storage.js';
import { injectedFaults } from '../faults/injected-faults.js';
import { SyncIoGate } from '../io/sync-io-gate.js';

const ZERO_FILL_CHUNK_BYTES = 1024 * 1024;
/** Vectored writes up to this many bytes may be issued synchronously (see above). */
export const SYNC_WRITEV_BYTES_MAX = 256 * 1024;
/** A page-cache write takes µs; one that took this long was throttled by writeback. */
const SYNC_WRITEV_SLOW_MS = 0.5;
const SYNC_GATE_CLOSED_MS = 1_000;

export interface FileStorageCreateOptions {
  /**
   * Write zeros over the whole file (default) rather than leaving it sparse: the blocks are
   * then allocated once, so an fdatasync after an append does not also have to write the
   * file system's allocation metadata.
   */
  readonly zeroFill?: boolean;
}

export class FileStorage implements Storage {
  readonly writeGate = new SyncIoGate({ kind: 'log-write', slowMs: SYNC_WRITEV_SLOW_MS, closedMs: SYNC_GATE_CLOSED_MS });

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
  ) {}

  /** Creates a new file of `sizeBytes`; refuses to overwrite an existing one. */
  static async create(path: string, sizeBytes: number, options: FileStorageCreateOptions = {}): Promise<FileStorage> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'wx+', 0o600);
      if (options.zeroFill ?? true) await zeroFill(handle, sizeBytes);
      else await handle.truncate(sizeBytes);
      await handle.datasync();
      await syncDirectory(dirname(path));
      return new FileStorage(handle, path);
    } catch (cause) {
      await handle?.close().catch(() => undefined);
      throw new LogError('Io', `cannot create log file ${path}`, { cause });
    }
  }

  /** Opens an existing file for reading and writing. */
  static async open(path: string): Promise<FileStorage> {
    try {
      return new FileStorage(await open(path, 'r+'), path);
    } catch (cause) {
      throw new LogError('Io', `cannot open log file ${path}`, { cause });
    }
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    await injectedFaults.before('log', 'read');
    const buffer = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(buffer, filled, length - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  }

  writev(position: number, buffers: readonly Uint8Array[]): Promise<void> {
    // Without injected faults the syscall is issued in the caller's turn, not a microtask
    // later behind whatever else is queued (the commit loop times its pipeline on it).
    if (!injectedFaults.active) {
      let total = 0;
      for (const buffer of buffers) total += buffer.length;
      if (total > SYNC_WRITEV_BYTES_MAX || !this.writeGate.open) return this.writevNow(position, buffers);
      try {
        this.writeGate.run(() => this.writevSyncAll(position, buffers, total));
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return injectedFaults.before('log', 'write').then(() => this.writevNow(position, buffers));
  }

  private writevSyncAll(position: number, buffers: readonly Uint8Array[], total: number): void {
    let remaining: readonly Uint8Array[] = buffers;
    let left = total;
    let at = position;
    while (left > 0) {
      const written = writevSync(this.handle.fd, remaining, at);
      if (written === left) return;
      if (written === 0) throw new LogError('Io', `pwritev wrote nothing at ${at} of ${this.path} (${left} bytes left)`);
      remaining = dropPrefix(remaining, written);
      left -= written;
      at += written;
    }
  }

  private async writevNow(position: number, buffers: readonly Uint8Array[]): Promise<void> {
    let remaining = [...buffers];
    let at = position;
    // pwritev may write less than asked (a signal, a full disk reports ENOSPC on the retry).
    for (;;) {
      const total = remaining.reduce((sum, buffer) => sum + buffer.length, 0);
      if (total === 0) return;
      const { bytesWritten } = await this.handle.writev(remaining, at);
      if (bytesWritten === total) return;
      remaining = dropPrefix(remaining, bytesWritten);
      at += bytesWritten;
    }
  }

  datasync(): Promise<void> {
    if (!injectedFaults.active) return this.handle.datasync();
    return injectedFaults.before('log', 'sync').then(() => this.handle.datasync());
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

async function zeroFill(handle: FileHandle, sizeBytes: number): Promise<void> {
  const zeros = new Uint8Array(ZERO_FILL_CHUNK_BYTES);
  for (let at = 0; at < sizeBytes; ) {
    const { bytesWritten } = await handle.write(zeros, 0, Math.min(zeros.length, sizeBytes - at), at);
    at += bytesWritten;
  }
}

/** A new file's directory entry is durable only once the directory itself is synced. */
async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

function dropPrefix(buffers: readonly Uint8Array[], bytes: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = bytes;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}
