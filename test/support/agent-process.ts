// Real bunker-agent processes for end-to-end tests: each started from the built agent
// (agent/dist) with its own data folder and loopback ports picked by the kernel, stopped or
// killed by the test, and never outliving the test run (see supervised-process.ts).
import { mkdir, readFile, stat } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { AgentClient, type ConfigureRequest, type ConfigureResponse, type StatusResponse, type DrainProgress, type DrainRequest } from '@bunker/proto';
import { repoRoot } from './control-plane.js';
import { startSupervised, type SupervisedProcess } from './supervised-process.js';
import { waitFor } from './wait-for.js';

export interface AgentProcess {
  readonly node: string;
  readonly dataDir: string;
  /** Address the agent listens on: 127.0.0.1, or its network namespace's address. */
  readonly host: string;
  readonly grpcAddress: string;
  readonly nbdPort: number;
  readonly metricsPort: number;
  readonly process: SupervisedProcess;
  readonly client: AgentClient;
  configure(request: ConfigureRequest): Promise<ConfigureResponse>;
  /** The agent's Prometheus metrics page. */
  metrics(): Promise<string>;
  status(): Promise<StatusResponse>;
  drain(request: DrainRequest): Promise<DrainProgress[]>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface AgentStartOptions {
  readonly node: string;
  readonly baseDir: string;
  /** Keep ports across restarts: pass the previous ones. */
  readonly grpcPort?: number;
  readonly nbdPort?: number;
  readonly kubeconfig?: string;
  readonly namespace?: string;
  readonly host?: string;
  readonly netns?: string;
  /** More bunker-agent flags (for example --advertise-grpc), after the ones above. */
  readonly extraArgs?: readonly string[];
}

function unary<Req, Res>(call: (req: Req, md: Metadata, opts: { deadline: Date }, cb: (e: Error | null, r: Res) => void) => unknown, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    call(request, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (error, response) => (error === null ? resolve(response) : reject(error)));
  });
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

export async function startAgent(options: AgentStartOptions): Promise<AgentProcess> {
  const dataDir = join(options.baseDir, options.node);
  await mkdir(dataDir, { recursive: true });
  const host = options.host ?? '127.0.0.1';
  const logPath = join(options.baseDir, `${options.node}.log`);
  // A restarted agent appends to the same log: read only what this start writes.
  const logStart = await stat(logPath).then((s) => s.size, () => 0);
  const process = startSupervised({
    name: `agent ${options.node}`,
    command: 'node',
    args: [
      join(repoRoot, 'agent/dist/bin/bunker-agent.js'),
      '--node', options.node, '--data-dir', dataDir,
      '--grpc-listen', `${host}:${options.grpcPort ?? 0}`, '--nbd-listen', `${host}:${options.nbdPort ?? 0}`,
      '--metrics-listen', `${host}:0`,
      '--kubeconfig', options.kubeconfig ?? 'none', '--namespace', options.namespace ?? 'bunker-system',
      '--log-level', 'debug',
      ...(options.extraArgs ?? []),
    ],
    logPath,
    ...(options.netns === undefined ? {} : { netns: options.netns }),
  });
  const ready = await waitFor(`agent ${options.node} to start`, async () => {
    if (process.child.exitCode !== null) throw new Error(`agent ${options.node} exited: ${await readFile(logPath, 'utf8')}`);
    const log = (await readFile(logPath).catch(() => Buffer.alloc(0))).subarray(logStart).toString('utf8');
    const line = log.split('\n').find((l) => l.includes('"msg":"ready"'));
    if (line === undefined) return undefined;
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || !('grpcPort' in parsed) || !('nbdPort' in parsed)) return undefined;
    const metricsPort = 'metricsPort' in parsed ? Number(parsed.metricsPort) : 0;
    return { grpcPort: Number(parsed.grpcPort), nbdPort: Number(parsed.nbdPort), metricsPort };
  }, { timeoutMs: 20_000, intervalMs: 50 });
  const grpcAddress = `${host}:${ready.grpcPort}`;
  const client = new AgentClient(grpcAddress, credentials.createInsecure());
  return {
    node: options.node, dataDir, host, grpcAddress, nbdPort: ready.nbdPort, metricsPort: ready.metricsPort, process, client,
    metrics: () => httpGet(`http://${host}:${ready.metricsPort}/metrics`),
    configure: (request) => unary(client.configure.bind(client), request),
    status: () => unary(client.status.bind(client), { volume: '' }),
    drain: (request) => new Promise((resolve, reject) => {
      const progress: DrainProgress[] = [];
      const call = client.drain(request, { deadline: new Date(Date.now() + 120_000) });
      call.on('data', (p: DrainProgress) => progress.push(p));
      call.on('error', reject);
      call.on('end', () => resolve(progress));
    }),
    kill: async () => { client.close(); await process.stop('SIGKILL', 1_000); },
    stop: async () => { client.close(); await process.stop('SIGTERM', 15_000); },
  };
}
