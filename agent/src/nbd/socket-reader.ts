// Reads exact-length messages from a socket without unbounded buffering. The stream stays in
// paused mode and bytes are pulled with `read(n)` only when the connection is ready for its next
// message: while nobody reads, Node stops reading from the kernel once its buffer reaches the
// high-water mark, the TCP window closes and the client is pushed back. That is the whole
// back-pressure mechanism of a connection: to slow a client down, stop calling `read`.
//
// A single chunk that already holds the message is returned as a view without copying.
import type { Readable } from 'node:stream';

export type ReadResult =
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  /** The stream ended (or failed) after `receivedBytes` bytes of the requested message. */
  | { readonly kind: 'end'; readonly receivedBytes: number };

/** Largest piece `skip` pulls at once, so discarding a payload never buffers it whole. */
const SKIP_CHUNK_BYTES = 64 * 1024;

export class SocketReader {
  private ended = false;
  private discarding = false;
  private reading = false;
  private wakeReader: (() => void) | null = null;
  private readonly onReadable = (): void => this.wake();

  constructor(private readonly stream: Readable) {
    // One 'readable' listener for the reader's whole life. Attaching a fresh one per wait would
    // make Node emit 'readable' at once whenever anything is buffered, even too little for the
    // pending read, and the read/re-attach cycle would spin on process.nextTick, starving I/O.
    stream.on('readable', this.onReadable);
    const markEnded = (): void => {
      this.ended = true;
      this.wake();
    };
    stream.once('end', markEnded);
    stream.once('close', markEnded);
    // A socket error is followed by 'close'; the reader reports it as the end of the stream and
    // the connection's own 'error' listener decides what to log.
    stream.once('error', markEnded);
  }

  /** Resolves with exactly `length` bytes, or with how much arrived before the stream ended. */
  async read(length: number): Promise<ReadResult> {
    if (this.reading) throw new Error('SocketReader.read called while another read is pending');
    this.reading = true;
    try {
      return await this.readExactly(length);
    } finally {
      this.reading = false;
    }
  }

  /** Reads and drops `length` bytes; false if the stream ended first. */
  async skip(length: number): Promise<boolean> {
    let remaining = length;
    while (remaining > 0) {
      const piece = Math.min(remaining, SKIP_CHUNK_BYTES);
      const result = await this.read(piece);
      if (result.kind === 'end') return false;
      remaining -= piece;
    }
    return true;
  }

  /**
   * Stops reading for good: whatever arrives from now on is dropped, and a pending read ends.
   * Closing a socket with unread input makes the kernel send a reset, which can destroy replies
   * still in flight to the client; consuming the input until the client's FIN avoids that.
   */
  discardRest(): void {
    if (this.discarding) return;
    this.discarding = true;
    this.stream.off('readable', this.onReadable);
    // Flowing mode with no 'data' listener drops the bytes and lets 'end' arrive.
    this.stream.resume();
    this.wake();
  }

  private async readExactly(length: number): Promise<ReadResult> {
    if (length === 0) return { kind: 'bytes', bytes: Buffer.alloc(0) };
    for (;;) {
      if (this.discarding || this.stream.destroyed) return { kind: 'end', receivedBytes: 0 };
      // A null result also arms the stream to emit 'readable' when more data arrives, so the
      // wait below cannot miss it.
      const chunk: unknown = this.stream.read(length);
      if (Buffer.isBuffer(chunk)) {
        // At the end of the stream `read(n)` hands back whatever is left, possibly less than n.
        return chunk.length === length ? { kind: 'bytes', bytes: chunk } : { kind: 'end', receivedBytes: chunk.length };
      }
      if (chunk !== null) throw new Error('SocketReader needs a byte stream, not an object-mode or string stream');
      if (this.ended || this.stream.readableEnded) return { kind: 'end', receivedBytes: this.stream.readableLength };
      await new Promise<void>((resolve) => {
        this.wakeReader = resolve;
      });
    }
  }

  private wake(): void {
    const wakeReader = this.wakeReader;
    this.wakeReader = null;
    wakeReader?.();
  }
}
