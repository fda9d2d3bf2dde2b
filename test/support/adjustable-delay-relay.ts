// A TCP relay whose added latency can be changed while connections are open (the soak test
// turns a far link slow for a few seconds and back): like startDelayRelay in tcp-relay.ts, every
// chunk is held `delayMs` (the delay in force when it arrived) before it is passed on, in each
// direction and in order; with a delay of 0 and nothing queued, chunks pass at once. Only
// latency: no loss, no bandwidth limit.
import { createServer, connect, type Socket } from 'node:net';

export interface AdjustableDelayRelay {
  readonly host: string;
  readonly port: number;
  delayMs(): number;
  setDelay(ms: number): void;
  /** Connections open now (each is two sockets). */
  openConnections(): number;
  close(): Promise<void>;
}

export async function startAdjustableDelayRelay(listenHost: string, target: { host: string; port: number }, initialDelayMs = 0): Promise<AdjustableDelayRelay> {
  let delay = initialDelayMs;
  const sockets = new Set<Socket>();
  const pairs = new Set<Socket>();

  const delayed = (to: Socket): ((chunk: Buffer) => void) => {
    const queue: Array<{ due: number; chunk: Buffer }> = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      timer = undefined;
      const now = Date.now();
      while (queue.length > 0 && (queue[0]?.due ?? Infinity) <= now) {
        const next = queue.shift();
        if (next !== undefined && !to.destroyed) to.write(next.chunk);
      }
      const head = queue[0];
      if (head !== undefined) timer = setTimeout(flush, Math.max(0, head.due - now));
    };
    to.once('close', () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      queue.length = 0;
    });
    return (chunk) => {
      if (delay <= 0 && queue.length === 0) {
        if (!to.destroyed) to.write(chunk);
        return;
      }
      // Never before a chunk queued earlier: order is kept when the delay shrinks.
      const due = Math.max(Date.now() + delay, queue.at(-1)?.due ?? 0);
      queue.push({ due, chunk });
      timer ??= setTimeout(flush, Math.max(0, (queue[0]?.due ?? due) - Date.now()));
    };
  };

  const server = createServer((client) => {
    const upstream = connect({ host: target.host, port: target.port });
    sockets.add(client);
    sockets.add(upstream);
    pairs.add(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      pairs.delete(client);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', delayed(upstream));
    upstream.on('data', delayed(client));
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, listenHost, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error('relay has no port'));
      else resolve(address.port);
    });
  });
  return {
    host: listenHost, port,
    delayMs: () => delay,
    setDelay: (ms) => { delay = Math.max(0, ms); },
    openConnections: () => pairs.size,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
