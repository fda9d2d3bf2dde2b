// The operator's API requests against the real apiserver share one connection pool
// (operator/src/kube/pooled-kube-config.ts). Method: 40 sequential reads through a plain
// KubeConfig and through a PooledKubeConfig loaded from the same kubeconfig, and after each
// batch the TCP connections this process holds open to the apiserver, counted from
// /proc/net/tcp (established sockets to the apiserver's port whose inode is one of our fds).
import { readFile, readdir, readlink } from 'node:fs/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { PooledKubeConfig } from '../../operator/src/kube/pooled-kube-config.js';
import { testCluster } from '../support/cluster.js';

const READS = 40;

async function ourSocketInodes(): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match?.[1] !== undefined) inodes.add(match[1]);
  }
  return inodes;
}

/** Established connections from this process to `port` (IPv4 and IPv6 tables). */
async function connectionsTo(port: number): Promise<number> {
  const inodes = await ourSocketInodes();
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const remote = fields[2];
      const state = fields[3];
      const inode = fields[9];
      if (remote === undefined || state !== '01' || inode === undefined) continue;
      if (Number.parseInt(remote.split(':')[1] ?? '', 16) === port && inodes.has(inode)) count += 1;
    }
  }
  return count;
}

function apiserverPort(kubeConfig: KubeConfig): number {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('the test kubeconfig has no current cluster');
  return Number(new URL(server).port);
}

async function readsThrough(kubeConfig: KubeConfig): Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  for (let i = 0; i < READS; i += 1) await core.readNamespace({ name: 'default' });
}

describe('PooledKubeConfig', () => {
  it('keeps one pool of connections to the apiserver where a plain KubeConfig opens one per request', async () => {
    const { kubeconfigPath, kubeConfig: plain } = testCluster();
    const port = apiserverPort(plain);
    const before = await connectionsTo(port);

    await readsThrough(plain);
    const afterPlain = await connectionsTo(port);

    const pooled = new PooledKubeConfig();
    pooled.loadFromFile(kubeconfigPath);
    const beforePooled = await connectionsTo(port);
    await readsThrough(pooled);
    const afterPooled = await connectionsTo(port);
    process.stdout.write(`connections to the apiserver after ${READS} sequential reads: plain KubeConfig +${afterPlain - before}, PooledKubeConfig +${afterPooled - beforePooled}\n`);

    // The library's own behaviour, which the pool exists for: if this stops holding, the
    // pool may no longer be needed (a newer @kubernetes/client-node).
    expect(afterPlain - before).toBeGreaterThanOrEqual(READS / 2);
    expect(afterPooled - beforePooled).toBeLessThanOrEqual(2);
  }, 60_000);

});
