// A real, throw-away Kubernetes control plane on loopback: etcd and kube-apiserver built from
// the Go module proxy by scripts/control-plane/build.sh (cached by version), real TLS, RBAC,
// a service-account signer and a system:masters admin. No kubelet, no controller-manager:
// tests create Node objects themselves, and nothing garbage-collects.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'node:https';
import { freePort } from './free-port.js';
import { makePki, type Pki } from './pki.js';
import { startSupervised, type SupervisedProcess } from './supervised-process.js';

const run = promisify(execFile);
export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface ControlPlane {
  readonly dir: string;
  readonly binDir: string;
  readonly apiServerUrl: string;
  readonly kubeconfigPath: string;
  readonly pki: Pki;
  stop(): Promise<void>;
}

/** Builds (or finds in the cache) kube-apiserver, etcd and helm; returns their folder. */
export async function controlPlaneBinDir(): Promise<string> {
  const fromEnv = process.env['BUNKER_CONTROL_PLANE_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const { stdout } = await run('bash', [join(repoRoot, 'scripts/control-plane/build.sh')], {
    timeout: 60 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = stdout.trim().split('\n');
  const last = lines[lines.length - 1];
  if (last === undefined || last === '') throw new Error('scripts/control-plane/build.sh printed no bin directory');
  return last;
}

export async function startControlPlane(options: { dir?: string } = {}): Promise<ControlPlane> {
  const binDir = await controlPlaneBinDir();
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'bunker-cp-')));
  const pki = await makePki(dir);
  const processes: SupervisedProcess[] = [];
  try {
    const etcdUrl = await startEtcd(binDir, dir, processes);
    const securePort = await freePort();
    processes.push(startApiServer(binDir, dir, pki, etcdUrl, securePort));
    const apiServerUrl = `https://127.0.0.1:${securePort}`;
    await waitReady(apiServerUrl, pki, processes, 90_000);
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml(apiServerUrl, pki));
    const stop = async (): Promise<void> => {
      for (const p of [...processes].reverse()) await p.stop('SIGTERM', 10_000);
      await rm(dir, { recursive: true, force: true });
    };
    return { dir, binDir, apiServerUrl, kubeconfigPath, pki, stop };
  } catch (error) {
    for (const p of [...processes].reverse()) await p.stop('SIGKILL', 1_000);
    throw error;
  }
}

async function startEtcd(binDir: string, dir: string, processes: SupervisedProcess[]): Promise<string> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  processes.push(startSupervised({
    name: 'etcd',
    command: join(binDir, 'etcd'),
    args: [
      '--name', 'bunker-test', '--data-dir', join(dir, 'etcd'),
      '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-cluster', `bunker-test=http://127.0.0.1:${peerPort}`,
      // Test data is thrown away: durability of etcd itself is not under test.
      '--unsafe-no-fsync',
      '--log-level', 'warn',
    ],
    logPath: join(dir, 'etcd.log'),
    scratchDir: dir,
  }));
  return clientUrl;
}

function startApiServer(binDir: string, dir: string, pki: Pki, etcdUrl: string, securePort: number): SupervisedProcess {
  return startSupervised({
    name: 'kube-apiserver',
    command: join(binDir, 'kube-apiserver'),
    args: [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
      `--secure-port=${securePort}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--authorization-mode=RBAC',
      // Service IPs are only allocated here, never routed: no kube-proxy runs.
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      // No controller-manager creates default ServiceAccounts, so the admission plugin would
      // refuse every pod-bearing object.
      '--disable-admission-plugins=ServiceAccount',
      `--service-account-issuer=https://127.0.0.1:${securePort}`,
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      '--enable-priority-and-fairness=false',
      '--v=0',
    ],
    logPath: join(dir, 'kube-apiserver.log'),
    scratchDir: dir,
  });
}

function getReadyz(url: string, pki: Pki, ca: Buffer, cert: Buffer, key: Buffer): Promise<number> {
  return new Promise((resolveStatus) => {
    const req = request(`${url}/readyz`, { ca, cert, key, timeout: 2_000 }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on('error', () => resolveStatus(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function waitReady(url: string, pki: Pki, processes: SupervisedProcess[], timeoutMs: number): Promise<void> {
  const [ca, cert, key] = await Promise.all([readFile(pki.caCert), readFile(pki.adminCert), readFile(pki.adminKey)]);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const p of processes) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) {
        const log = await readFile(p.logPath, 'utf8').catch(() => '');
        throw new Error(`${p.name} exited during start-up; last log lines:\n${log.split('\n').slice(-25).join('\n')}`);
      }
    }
    if ((await getReadyz(url, pki, ca, cert, key)) === 200) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`kube-apiserver at ${url} not ready within ${timeoutMs} ms`);
}

function kubeconfigYaml(server: string, pki: Pki): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: bunker-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${pki.caCert}`,
    'users:',
    '- name: admin',
    '  user:',
    `    client-certificate: ${pki.adminCert}`,
    `    client-key: ${pki.adminKey}`,
    'contexts:',
    '- name: bunker-test',
    '  context:',
    '    cluster: bunker-test',
    '    user: admin',
    '    namespace: default',
    'current-context: bunker-test',
    '',
  ].join('\n');
}
