// Plain TCP relays for tests that put an agent in a network namespace of its own:
// - an apiserver relay: the test apiserver listens on 127.0.0.1 only, which a namespace cannot
//   reach, so a relay on a root-namespace address the namespace can route to carries its
//   agent's Lease traffic, with a kubeconfig that names the relay (TLS still verified, against
//   the certificate's DNS name localhost). Cutting the namespace's link cuts this too, as a real
//   partition cuts a node off from the control plane.
// - a Service proxy: what kube-proxy would do for the volume's selector-less Service: every new
//   connection goes to the endpoint the volume's EndpointSlice lists at that moment, and
//   connections to an endpoint the slice no longer lists are closed (as a client's I/O timeout
//   would end them), so a client that reconnects reaches whichever primary is published.
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import { startAdjustableDelayRelay } from './adjustable-delay-relay.js';

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error('relay has no port'));
      else resolve(address.port);
    });
  });
}

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

function pipeBoth(client: Socket, upstream: Socket, sockets: Set<Socket>, onUpstreamData?: (bytes: number) => void): void {
  sockets.add(client);
  sockets.add(upstream);
  const end = (): void => {
    client.destroy();
    upstream.destroy();
    sockets.delete(client);
    sockets.delete(upstream);
  };
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
  client.on('data', (chunk: Buffer) => { upstream.write(chunk); });
  upstream.on('data', (chunk: Buffer) => {
    onUpstreamData?.(chunk.length);
    client.write(chunk);
  });
}

export interface TcpRelay {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on `listenHost` (port picked by the kernel) and relays each connection to `target`. */
export async function startTcpRelay(listenHost: string, target: { host: string; port: number }): Promise<TcpRelay> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: target.host, port: target.port });
    pipeBoth(client, upstream, sockets);
  });
  const port = await listen(server, listenHost);
  return { host: listenHost, port, close: () => closeServer(server, sockets) };
}

/**
 * A relay to the apiserver of `kubeconfigPath` on `listenHost`, and a copy of the kubeconfig
 * (written to `outPath`) that reaches the apiserver through it.
 */
export async function startApiserverRelay(kubeconfigPath: string, listenHost: string, outPath: string): Promise<TcpRelay & { readonly kubeconfigPath: string }> {
  const text = await readFile(kubeconfigPath, 'utf8');
  const match = /^(\s*)server: https:\/\/127\.0\.0\.1:(\d+)\s*$/m.exec(text);
  if (match === null) throw new Error(`no https://127.0.0.1 server in ${kubeconfigPath}`);
  const indent = match[1] ?? '    ';
  const relay = await startTcpRelay(listenHost, { host: '127.0.0.1', port: Number(match[2]) });
  await writeFile(outPath, text.replace(match[0], `${indent}server: https://${listenHost}:${relay.port}\n${indent}tls-server-name: localhost`));
  return { ...relay, kubeconfigPath: outPath };
}

export interface ProxiedConnection {
  /** host:port of the endpoint this connection was sent to. */
  readonly upstream: string;
  readonly openedAt: number;
  closedAt?: number;
  /** Why the proxy closed it, when it did. */
  closedBecause?: string;
  bytesFromUpstream: number;
  lastUpstreamDataAt?: number;
}

export interface ServiceProxy {
  readonly host: string;
  readonly port: number;
  readonly connections: readonly ProxiedConnection[];
  /** The endpoint the EndpointSlice listed at the last look. */
  current(): string | undefined;
  close(): Promise<void>;
}

export async function startServiceProxy(options: {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** The EndpointSlice's name (the operator names it like the volume). */
  readonly name: string;
  readonly pollMs?: number;
  /** Called as a connection to an endpoint is opened, before any byte is relayed. */
  readonly onConnect?: (upstream: string) => void;
}): Promise<ServiceProxy> {
  const api = options.kubeConfig.makeApiClient(DiscoveryV1Api);
  const sockets = new Set<Socket>();
  const connections: ProxiedConnection[] = [];
  const open = new Map<ProxiedConnection, { client: Socket; upstream: Socket }>();
  let current: string | undefined;
  let closed = false;

  const lookUp = async (): Promise<void> => {
    let next: string | undefined;
    try {
      const slice = await api.readNamespacedEndpointSlice({ namespace: options.namespace, name: options.name });
      const endpoint = (slice.endpoints ?? []).find((e) => e.conditions?.ready !== false && e.addresses.length > 0);
      const port = slice.ports?.[0]?.port;
      next = endpoint === undefined || port === undefined ? undefined : `${endpoint.addresses[0]}:${port}`;
    } catch {
      next = undefined;
    }
    if (next === current) return;
    current = next;
    for (const [record, pair] of open) {
      if (record.upstream === current) continue;
      record.closedBecause = `the EndpointSlice now lists ${current ?? 'no endpoint'}`;
      pair.client.destroy();
      pair.upstream.destroy();
    }
  };
  await lookUp();
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(() => (closed ? undefined : lookUp()));
  }, options.pollMs ?? 200);

  const server = createServer((client) => {
    const target = current;
    if (target === undefined) {
      client.destroy();
      return;
    }
    options.onConnect?.(target);
    const separator = target.lastIndexOf(':');
    const upstream = connect({ host: target.slice(0, separator), port: Number(target.slice(separator + 1)) });
    const record: ProxiedConnection = { upstream: target, openedAt: Date.now(), bytesFromUpstream: 0 };
    connections.push(record);
    open.set(record, { client, upstream });
    const done = (): void => {
      if (record.closedAt === undefined) record.closedAt = Date.now();
      open.delete(record);
    };
    client.once('close', done);
    upstream.once('close', done);
    pipeBoth(client, upstream, sockets, (bytes) => {
      record.bytesFromUpstream += bytes;
      record.lastUpstreamDataAt = Date.now();
    });
  });
  const port = await listen(server, '127.0.0.1');
  return {
    host: '127.0.0.1', port, connections,
    current: () => current,
    close: async () => {
      closed = true;
      clearInterval(timer);
      await polling;
      await closeServer(server, sockets);
    },
  };
}

export interface DelayRelay extends TcpRelay {
  readonly delayMs: number;
}

/**
 * A relay that holds every chunk `delayMs` before passing it on, in each direction and in
 * order: a long-distance link in user space, for machines whose kernel has no sch_netem
 * (`tc qdisc … netem` unavailable). Only latency: no loss, no bandwidth limit. The fixed-delay
 * use of adjustable-delay-relay.ts.
 */
export async function startDelayRelay(listenHost: string, target: { host: string; port: number }, delayMs: number): Promise<DelayRelay> {
  const relay = await startAdjustableDelayRelay(listenHost, target, delayMs);
  return { host: relay.host, port: relay.port, delayMs, close: () => relay.close() };
}
