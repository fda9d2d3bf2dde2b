// Mutual TLS on the agents' gRPC links, with real agent processes and real certificates made
// by openssl: three agents replicate a volume over TLS (operator-side calls and agent-to-agent
// streams); a client with no certificate, or with one from another CA, gets UNAUTHENTICATED
// and changes nothing; and the certificates are rotated to a new CA (first trusting both, then
// switching every agent's own certificate) while a writer keeps writing, without restarting
// any agent and without a failed write.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import {
  AgentClient, FillPolicy, RecoveryMode, Role, SecondaryMode, TLS_CHANNEL_OPTIONS,
  type ConfigureRequest, type Peer, type StatusResponse,
} from '../../proto/src/index.js';
import { startAgent, type AgentProcess } from '../support/agent-process.js';
import { issue, makeCa } from '../support/pki.js';
import { runClient } from '../support/nbd-clients.js';
import { waitFor } from '../support/wait-for.js';

const MiB = 1024 * 1024;
const volume = 'tls/vol';
const uid = '3f1c8a3e-0f5e-4b53-9d7a-3a1f2b4c5d6e';
const nodes = ['tls-a', 'tls-b', 'tls-c'] as const;
const AGENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:bunker-agent\n';
const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';

let dir: string;
const agents = new Map<string, AgentProcess>();
/** Per agent, the files it was started with (rewritten in place to rotate). */
const files = new Map<string, { cert: string; key: string; ca: string }>();

function agent(node: string): AgentProcess {
  const found = agents.get(node);
  if (found === undefined) throw new Error(`no agent ${node}`);
  return found;
}

function client(node: string, creds: ChannelCredentials): AgentClient {
  return new AgentClient(agent(node).grpcAddress, creds, TLS_CHANNEL_OPTIONS);
}

async function tlsCredentials(ca: string, cert?: { cert: string; key: string }): Promise<ChannelCredentials> {
  return credentials.createSsl(await readFile(ca), cert === undefined ? null : await readFile(cert.key), cert === undefined ? null : await readFile(cert.cert));
}

function call<Req, Res>(method: (req: Req, md: Metadata, opts: { deadline: Date }, cb: (e: ServiceError | null, r: Res) => void) => unknown, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(request, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (error, response) => (error === null ? resolve(response) : reject(error)));
  });
}

const peer = (node: string): Peer => ({ node, address: agent(node).grpcAddress });

function configureRequest(role: Role, peers: { primary?: Peer; bunker?: Peer; secondaryPeer?: Peer }): ConfigureRequest {
  return {
    volume, volumeUid: uid, epoch: 1, role, sizeBytes: 16 * MiB, logBytes: 16 * MiB, recovery: RecoveryMode.RECOVERY_MODE_SYNC,
    secondary: SecondaryMode.SECONDARY_MODE_ASYNC, fillPolicy: FillPolicy.FILL_POLICY_TRACK_CHANGES, changeMapRegionBytes: 4096,
    primary: peers.primary, bunker: peers.bunker, secondaryPeer: peers.secondaryPeer, clearChangeMap: false,
  };
}

async function replica(node: string, creds: ChannelCredentials): Promise<StatusResponse['volumes'][number] | undefined> {
  const c = client(node, creds);
  try {
    return (await call(c.status.bind(c), { volume })).volumes[0];
  } finally {
    c.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bunker-agent-tls-'));
  const ca = await makeCa(dir, 'install-ca');
  for (const node of nodes) {
    const own = await issue(dir, node, `/CN=${node}`, ca, AGENT_EXT);
    const ca1 = join(dir, `${node}-trust.crt`);
    await copyFile(ca.cert, ca1);
    files.set(node, { cert: own.cert, key: own.key, ca: ca1 });
    agents.set(node, await startAgent({
      node, baseDir: dir, extraArgs: ['--tls-cert', own.cert, '--tls-key', own.key, '--tls-ca', ca1, '--tls-refresh-seconds', '1'],
    }));
  }
}, 120_000);

afterAll(async () => {
  await Promise.all([...agents.values()].map((a) => a.stop()));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('mutual TLS between the operator and the agents, and between agents', () => {
  let operatorCreds: ChannelCredentials;

  it('replicates a volume over TLS when every side presents a certificate of the installation CA', async () => {
    const operatorCert = await issue(dir, 'operator', '/CN=bunker-operator', { cert: join(dir, 'install-ca.crt'), key: join(dir, 'install-ca.key') }, CLIENT_EXT);
    operatorCreds = await tlsCredentials(join(dir, 'install-ca.crt'), operatorCert);
    for (const [node, request] of [
      ['tls-b', configureRequest(Role.ROLE_BUNKER, { primary: peer('tls-a') })],
      ['tls-c', configureRequest(Role.ROLE_SECONDARY, { primary: peer('tls-a') })],
      ['tls-a', configureRequest(Role.ROLE_PRIMARY, { bunker: peer('tls-b'), secondaryPeer: peer('tls-c') })],
    ] as const) {
      const c = client(node, operatorCreds);
      await call(c.configure.bind(c), request);
      c.close();
    }
    await waitFor('the primary to serve', async () => ((await replica('tls-a', operatorCreds))?.nbdAddress ?? '') !== '' ? true : undefined, { timeoutMs: 20_000 });
    const wrote = await runClient('qemu-io', ['-f', 'raw', '-c', 'write -q -P 0x61 0 1M', `nbd://${agent('tls-a').host}:${agent('tls-a').nbdPort}/${volume}`], { timeoutMs: 30_000 });
    expect(wrote).toMatchObject({ code: 0 });
    const secondary = await waitFor('the secondary to hold the write', async () => {
      const r = await replica('tls-c', operatorCreds);
      return r !== undefined && r.appliedSeq >= 1 ? r : undefined;
    }, { timeoutMs: 20_000 });
    const bunker = await replica('tls-b', operatorCreds);
    expect(bunker?.durableSeq).toBeGreaterThanOrEqual(1);
    expect(secondary.appliedSeq).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('answers a client without a certificate, or with one of another CA, UNAUTHENTICATED, and changes nothing', async () => {
    const before = await replica('tls-a', operatorCreds);
    const rogueCa = await makeCa(dir, 'rogue-ca');
    const rogue = await issue(dir, 'rogue', '/CN=bunker-operator', rogueCa, CLIENT_EXT);
    const anonymous = await tlsCredentials(join(dir, 'install-ca.crt'));
    const impostor = await tlsCredentials(join(dir, 'install-ca.crt'), rogue);
    for (const creds of [anonymous, impostor]) {
      const c = client('tls-a', creds);
      await expect(call(c.configure.bind(c), { ...configureRequest(Role.ROLE_NONE, {}), epoch: 9 })).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      await expect(call(c.status.bind(c), { volume })).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      await expect(call(c.release.bind(c), { volume, deleteData: true })).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      c.close();
    }
    const plain = new AgentClient(agent('tls-a').grpcAddress, credentials.createInsecure());
    await expect(call(plain.status.bind(plain), { volume })).rejects.toMatchObject({ code: status.UNAVAILABLE });
    plain.close();
    const after = await replica('tls-a', operatorCreds);
    expect(after).toMatchObject({ role: Role.ROLE_PRIMARY, epoch: 1 });
    expect(after?.nbdAddress).toBe(before?.nbdAddress);
    const metrics = await agent('tls-a').metrics();
    expect(metrics).toMatch(/bunker_errors_total\{[^}]*code="Unauthenticated"[^}]*\} [1-9]/);
  }, 60_000);

  it('rotates every certificate to a new CA without a restart and without a failed write', async () => {
    const newCa = await makeCa(dir, 'install-ca-2');
    const writing = runClient('qemu-io', ['-f', 'raw', ...Array.from({ length: 40 }, (_, i) => ['-c', `write -q -P 0x62 ${(i % 16) * MiB} 1M`]).flat(),
      `nbd://${agent('tls-a').host}:${agent('tls-a').nbdPort}/${volume}`], { timeoutMs: 60_000 });
    // 1. Every agent trusts both CAs.
    const bundle = Buffer.concat([await readFile(join(dir, 'install-ca.crt')), await readFile(newCa.cert)]);
    for (const node of nodes) await writeFile(files.get(node)?.ca ?? '', bundle);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    // 2. Every agent gets its certificate from the new CA (key and certificate rewritten in place).
    for (const node of nodes) {
      const fresh = await issue(dir, `${node}-2`, `/CN=${node}`, newCa, AGENT_EXT);
      const own = files.get(node);
      if (own === undefined) throw new Error(`no files for ${node}`);
      await writeFile(own.key, await readFile(fresh.key));
      await writeFile(own.cert, await readFile(fresh.cert));
    }
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await writing).toMatchObject({ code: 0 });
    // An operator with a certificate of the new CA only is served; the agents were never restarted.
    const operator2 = await issue(dir, 'operator-2', '/CN=bunker-operator', newCa, CLIENT_EXT);
    const creds = await tlsCredentials(newCa.cert, operator2);
    const primary = await replica('tls-a', creds);
    expect(primary).toMatchObject({ role: Role.ROLE_PRIMARY });
    for (const node of nodes) expect(agent(node).process.child.exitCode).toBeNull();
    // Replication still flows over the rotated links: a new write reaches the secondary.
    const target = primary?.durableSeq ?? 0;
    const more = await runClient('qemu-io', ['-f', 'raw', '-c', 'write -q -P 0x63 0 1M', `nbd://${agent('tls-a').host}:${agent('tls-a').nbdPort}/${volume}`], { timeoutMs: 30_000 });
    expect(more).toMatchObject({ code: 0 });
    await waitFor('the secondary to follow after the rotation', async () => (((await replica('tls-c', creds))?.durableSeq ?? 0) > target ? true : undefined), { timeoutMs: 20_000 });
  }, 90_000);
});
