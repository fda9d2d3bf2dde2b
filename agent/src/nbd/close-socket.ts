// Ends a connection without losing what was already sent. `socket.destroy()` on a socket whose
// receive queue still holds bytes makes the kernel answer with a reset, and a reset can discard
// replies that were written but not yet delivered. So: send FIN after the last reply, drop any
// further input until the client's FIN (which closes the socket), and destroy it only if the
// client has not closed within CLOSE_LINGER_MS.
import type { Socket } from 'node:net';
import type { SocketReader } from './socket-reader.js';

export const CLOSE_LINGER_MS = 2_000;

export function closeGracefully(socket: Socket, reader: SocketReader, lingerMs = CLOSE_LINGER_MS): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    reader.discardRest();
    // The socket allows half-open connections; once both directions have ended it is destroyed
    // automatically, which emits 'close'.
    socket.end();
  });
}
