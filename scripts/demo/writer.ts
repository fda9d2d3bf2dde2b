// The consumer of the demo: test/support/verifiable-writer.py writing 4 KiB blocks one at a
// time through the volume's NBD endpoint and logging every write it saw acknowledged. It
// connects through a proxy that follows the volume's EndpointSlice, as kube-proxy would for
// the volume's Service (test/support/tcp-relay.ts), so that it reconnects to whichever
// primary serves; connections to an endpoint no longer listed are closed.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { repoRoot } from '../../test/support/control-plane.js';
import { startServiceProxy, type ServiceProxy } from '../../test/support/tcp-relay.js';

export interface Writer {
  readonly ackLog: string;
  readonly child: ChildProcess;
  readonly proxy: ServiceProxy;
  /** Stops the writer (SIGTERM) and its proxy; resolves once it has exited. */
  stop(): Promise<void>;
  output(): string;
}

export async function startWriter(options: {
  readonly dir: string;
  readonly label: string;
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly name: string;
  readonly blocks: number;
  readonly seed: number;
}): Promise<Writer> {
  const ackLog = join(options.dir, `${options.label}.acks`);
  const proxy = await startServiceProxy({ kubeConfig: options.kubeConfig, namespace: options.namespace, name: options.name, pollMs: 200 });
  if (proxy.current() === undefined) {
    await proxy.close();
    throw new Error(`EndpointSlice ${options.namespace}/${options.name} lists no ready endpoint`);
  }
  const child = spawn('/usr/bin/python3', [
    join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', `nbd://${proxy.host}:${proxy.port}/${options.namespace}/${options.name}`, '--reconnect',
    '--blocks', String(options.blocks), '--seconds', '900', '--ack-log', ackLog, '--seed', String(options.seed),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    ackLog, child, proxy,
    output: () => output.trim().split('\n').slice(-5).join('\n'),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await proxy.close();
    },
  };
}
