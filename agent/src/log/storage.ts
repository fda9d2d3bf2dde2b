// The storage a change log (and a change map) writes through. It is injected so that tests
// and the simulation can replace the file with a fake that loses unsynced writes and tears
// the last one (memory-storage.ts); in production it is a file or block device
// (file-storage.ts).
//
// Contract, the fault model the log is built against:
//  - `writev` and `read` are positional; nothing is durable until `datasync` has returned.
//  - a crash may keep any subset of the bytes written since the last `datasync` (a write
//    may be torn anywhere); bytes made durable by an earlier `datasync` survive.
//  - errors are thrown as-is; the log wraps them in a LogError with code Io.

export interface Storage {
  /**
   * Reads `length` bytes at `position`. Returns fewer bytes only when the storage ends
   * before `position + length` (a short read means "truncated here", never "try again").
   */
  read(position: number, length: number): Promise<Uint8Array>;
  /** Writes the buffers back to back starting at `position` (one vectored write). */
  writev(position: number, buffers: readonly Uint8Array[]): Promise<void>;
  /** Makes every write issued before this call durable (fdatasync). */
  datasync(): Promise<void>;
  /** Current size in bytes. */
  size(): Promise<number>;
  close(): Promise<void>;
}
