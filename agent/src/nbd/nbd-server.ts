// The NBD server: a TCP listener, a table of named exports, and one session per connection
// (handshake in negotiation.ts, then the transmission phase in transmission.ts). Exports come and
// go while the server runs: the agent adds a volume's export when it becomes primary and removes
// it when it stops being one. Removing an export refuses new sessions at once and winds down the
// open ones softly; the promise resolves when no connection can touch the device any more.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { BunkerError } from '@bunker/proto/bunker-error';
import type { BlockDevice } from './block-device.js';
import { closeGracefully } from './close-socket.js';
import { createExport, type ExportOptions, type NbdExport, type NbdServerErrorCode } from './nbd-export.js';
import type { NbdObserver } from './nbd-observer.js';
import { negotiate, type ExportCatalog } from './negotiation.js';
import { SocketReader } from './socket-reader.js';
import { Transmission, type TransmissionLimits } from './transmission.js';

export interface NbdServerOptions {
  readonly observer?: NbdObserver;
  /** Requests in flight per connection before the server stops reading from it. Default 128. */
  readonly inflightRequestsMax?: number;
  /** Read and write payload bytes in flight per connection. Default 64 MiB. */
  readonly inflightBytesMax?: number;
  /** Open connections; further ones are refused by the listener. Default 256. */
  readonly connectionsMax?: number;
  /** Time a client has to finish the handshake. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
}

export interface StopOptions {
  /** When it aborts, connections still open are dropped (device calls in flight still settle). */
  readonly signal?: AbortSignal;
}

interface Connection {
  readonly socket: Socket;
  /** Set once the session is in the transmission phase. */
  transmission: Transmission | null;
  target: NbdExport | null;
  /** Resolves when the socket is closed and no device call of this connection is pending. */
  done: Promise<void>;
}

export class NbdServer {
  private readonly server: Server;
  private readonly exports = new Map<string, NbdExport>();
  private readonly connections = new Set<Connection>();
  private readonly limits: TransmissionLimits;
  private readonly handshakeTimeoutMs: number;
  private closing = false;

  constructor(private readonly options: NbdServerOptions = {}) {
    this.limits = {
      inflightRequestsMax: positive(options.inflightRequestsMax ?? 128, 'inflightRequestsMax'),
      inflightBytesMax: positive(options.inflightBytesMax ?? 64 * 1024 * 1024, 'inflightBytesMax'),
    };
    this.handshakeTimeoutMs = positive(options.handshakeTimeoutMs ?? 10_000, 'handshakeTimeoutMs');
    // Half-open sockets stay writable after the client's FIN, so requests it sent before
    // closing its side are still answered.
    // No Nagle delay: replies are small and a client at queue depth 1 waits for each one.
    // Keepalive finds clients whose host vanished, so their connections do not linger forever.
    this.server = createServer({ allowHalfOpen: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 }, (socket) =>
      this.accept(socket));
    this.server.maxConnections = positive(options.connectionsMax ?? 256, 'connectionsMax');
    this.server.on('drop', (dropped) => this.options.observer?.onConnectionRefused?.(dropped?.remoteAddress ?? 'unknown'));
  }

  /** Starts listening; port 0 picks a free port, which the result reports. */
  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    if (this.closing) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host }, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        if (address === null || typeof address === 'string') reject(new Error('NBD server is not bound to a TCP address'));
        else resolve(address);
      });
    });
  }

  address(): AddressInfo | null {
    const address = this.server.address();
    return address === null || typeof address === 'string' ? null : address;
  }

  /** Serves `device` under `name`. Throws `nbd-export-exists` if the name is taken. */
  addExport(name: string, device: BlockDevice, options: ExportOptions = {}): void {
    if (this.closing) throw closedError();
    if (this.exports.has(name)) {
      throw new BunkerError<NbdServerErrorCode>('nbd-export-exists', `an export named '${name}' is already served`, {
        hint: 'remove the export first (and await it) to replace its device',
      });
    }
    this.exports.set(name, createExport(name, device, options));
  }

  /**
   * Stops serving `name`: new sessions are refused at once (NBD_REP_ERR_UNKNOWN), open ones
   * finish their requests in flight, get ESHUTDOWN for the rest, and are closed. Resolves when
   * none of them can call the device again. Removing an unknown name does nothing.
   */
  async removeExport(name: string, options: StopOptions = {}): Promise<void> {
    const target = this.exports.get(name);
    if (target === undefined) return;
    this.exports.delete(name);
    await this.windDown([...this.connections].filter((connection) => connection.target === target), options.signal);
  }

  exportNames(): string[] {
    return [...this.exports.keys()];
  }

  /**
   * For SIGTERM: stops accepting connections, refuses further options and requests with the
   * protocol's "shutting down" errors, finishes what is in flight, closes every connection.
   */
  async close(options: StopOptions = {}): Promise<void> {
    this.closing = true;
    const listenerClosed = new Promise<void>((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
    await this.windDown([...this.connections], options.signal);
    await listenerClosed;
    this.exports.clear();
  }

  private async windDown(connections: readonly Connection[], signal: AbortSignal | undefined): Promise<void> {
    const drop = (): void => {
      for (const connection of connections) connection.socket.destroy();
    };
    if (signal?.aborted === true) drop();
    signal?.addEventListener('abort', drop, { once: true });
    try {
      for (const connection of connections) connection.transmission?.shutdown();
      await Promise.all(connections.map((connection) => connection.done));
    } finally {
      signal?.removeEventListener('abort', drop);
    }
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    // Socket errors (resets, timeouts) end the session; the reader reports them as an end.
    socket.on('error', () => undefined);
    const connection: Connection = { socket, transmission: null, target: null, done: Promise.resolve() };
    this.connections.add(connection);
    this.options.observer?.onConnection('open');
    connection.done = this.session(connection).finally(() => {
      this.connections.delete(connection);
      this.options.observer?.onConnection('close');
    });
  }

  private async session(connection: Connection): Promise<void> {
    const { socket } = connection;
    const remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const reader = new SocketReader(socket);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, this.handshakeTimeoutMs);
    const result = await negotiate(reader, (bytes) => socket.write(bytes), this.catalog()).finally(() => clearTimeout(timer));
    if (result.kind !== 'transmit') {
      const reason = timedOut ? 'handshake-timeout' : result.kind === 'protocol-error' ? result.reason : null;
      if (reason !== null) this.options.observer?.onProtocolError?.(reason, remoteAddress);
      await closeGracefully(socket, reader);
      return;
    }
    const transmission = new Transmission(socket, reader, result.export, this.limits, this.options.observer);
    connection.transmission = transmission;
    connection.target = result.export;
    // The export may have been removed (or the server closed) while the last reply was queued.
    if (this.closing || this.exports.get(result.export.name) !== result.export) transmission.shutdown();
    const end = await transmission.run();
    if (end.kind === 'protocol-error') this.options.observer?.onProtocolError?.(end.reason, remoteAddress);
  }

  private catalog(): ExportCatalog<NbdExport> {
    return {
      lookup: (name) => this.exports.get(name),
      list: () => [...this.exports.values()],
      isShuttingDown: () => this.closing,
    };
  }
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`NbdServer option ${name} must be a positive integer, got ${value}`);
  return value;
}

function closedError(): BunkerError<NbdServerErrorCode> {
  return new BunkerError<NbdServerErrorCode>('nbd-server-closed', 'the NBD server is closed', { hint: 'create a new NbdServer' });
}
