// Three real agent processes keep a volume replicated while real NBD clients write to it.
// Method: each agent in its own network namespace when the test runs as root (else on loopback
// ports; the output says which), configured over gRPC by the test as the operator would:
// bunker and secondary first, then the primary.
// fio writes through the primary's NBD export with crc32c verification; afterwards the
// secondary's data file must be byte-identical to the primary's, and the bunker's log copy
// must hold nothing the secondary lacks.
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID, createHash } from 'node:crypto';
import { FillPolicy, RecoveryMode, Role, SecondaryMode, type ConfigureRequest, type Peer, type VolumeStatus } from '@bunker/proto';
import { startAgent, type AgentProcess } from '../support/agent-process.js';
import { runClient, runClientOk } from '../support/nbd-clients.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';
import { repoRoot } from '../support/control-plane.js';
import { testHostsOrLoopback, type TestHost, type TestNetwork } from '../support/netns.js';

const MiB = 1024 * 1024;
const VOLUME = 'default/e2e';
const SIZE_BYTES = 32 * MiB;

let baseDir: string;
let primary: AgentProcess;
let bunker: AgentProcess;
let secondary: AgentProcess;
let network: TestNetwork | undefined;
const hostOf = new Map<string, TestHost>();

function start(node: string, ports: { grpcPort?: number; nbdPort?: number } = {}): Promise<AgentProcess> {
  const host = hostOf.get(node);
  return startAgent({ node, baseDir, ...ports, ...(host === undefined ? {} : { host: host.ip, netns: host.netns }) });
}

function portsOf(agent: AgentProcess): { grpcPort: number; nbdPort: number } {
  return { grpcPort: Number(agent.grpcAddress.split(':').at(-1)), nbdPort: agent.nbdPort };
}
const volumeUid = randomUUID();

interface Peers {
  readonly primary?: Peer;
  readonly bunker?: Peer;
  readonly secondaryPeer?: Peer;
}

function request(role: Role, epoch: number, peers: Peers, volume = VOLUME): ConfigureRequest {
  return {
    volume, volumeUid, epoch, role, sizeBytes: SIZE_BYTES, logBytes: 64 * MiB,
    recovery: RecoveryMode.RECOVERY_MODE_SYNC, secondary: SecondaryMode.SECONDARY_MODE_ASYNC,
    fillPolicy: FillPolicy.FILL_POLICY_TRACK_CHANGES, changeMapRegionBytes: 64 * 1024,
    primary: peers.primary, bunker: peers.bunker, secondaryPeer: peers.secondaryPeer, clearChangeMap: false,
  };
}

async function volumeOf(agent: AgentProcess, name = VOLUME): Promise<VolumeStatus> {
  const status = await agent.status();
  const volume = status.volumes.find((v) => v.volume === name);
  if (volume === undefined) throw new Error(`${agent.node} does not hold ${name}`);
  return volume;
}

const peer = (agent: AgentProcess) => ({ node: agent.node, address: agent.grpcAddress });
const dataPath = (agent: AgentProcess, name = VOLUME) => join(agent.dataDir, 'volumes', name.replace('/', '__'), 'data.img');

/** Places a volume on the three agents as the operator would, and waits until it is served. */
async function placeVolume(name: string): Promise<void> {
  await bunker.configure(request(Role.ROLE_BUNKER, 1, { primary: peer(primary) }, name));
  await secondary.configure(request(Role.ROLE_SECONDARY, 1, { primary: peer(primary) }, name));
  await primary.configure(request(Role.ROLE_PRIMARY, 1, { bunker: peer(bunker), secondaryPeer: peer(secondary) }, name));
  await waitFor(`the primary to serve ${name}`, async () => ((await volumeOf(primary, name)).nbdAddress !== '' ? true : undefined), { timeoutMs: 15_000 });
}

function startWriter(name: string, ackLog: string, seconds: number, seed: number) {
  return runClient('/usr/bin/python3', [
    join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', `nbd://${primary.host}:${primary.nbdPort}/${name}`,
    '--blocks', '2048', '--seconds', String(seconds), '--ack-log', ackLog, '--seed', String(seed),
  ], { timeoutMs: (seconds + 30) * 1000 });
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

beforeAll(async () => {
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-e2e-'));
  network = await testHostsOrLoopback(['site-a', 'site-b', 'site-c'], 40);
  for (const host of network?.hosts ?? []) hostOf.set(host.name, host);
  primary = await start('site-a');
  bunker = await start('site-b');
  secondary = await start('site-c');
  await bunker.configure(request(Role.ROLE_BUNKER, 1, { primary: peer(primary) }));
  await secondary.configure(request(Role.ROLE_SECONDARY, 1, { primary: peer(primary) }));
  await primary.configure(request(Role.ROLE_PRIMARY, 1, { bunker: peer(bunker), secondaryPeer: peer(secondary) }));
  await waitFor('the primary to serve NBD', async () => ((await volumeOf(primary)).nbdAddress !== '' ? true : undefined), { timeoutMs: 15_000 });
}, 60_000);

afterAll(async () => {
  await Promise.all([primary, bunker, secondary].filter((a) => a !== undefined).map((a) => a.stop()));
  await network?.destroy();
  await rm(baseDir, { recursive: true, force: true });
});

describe('three agents replicating one volume', () => {
  it('fio writes and verifies through the primary, and the secondary converges byte for byte', async () => {
    const fio = await runClientOk('fio', [
      '--name=bunker-e2e', '--ioengine=nbd', `--uri=nbd://${primary.host}:${primary.nbdPort}/${VOLUME}`,
      '--rw=randwrite', '--bs=4k', '--iodepth=16', `--size=${8 * MiB}`, '--verify=crc32c', '--do_verify=1',
      '--verify_state_save=0', '--output-format=json',
    ], { timeoutMs: 120_000, cwd: baseDir });
    const report: unknown = JSON.parse(fio.stdout.slice(fio.stdout.indexOf('{')));
    expect(report).toMatchObject({ jobs: [{ error: 0 }] });

    const primaryVolume = await volumeOf(primary);
    expect(primaryVolume.durableSeq).toBeGreaterThanOrEqual(2048);
    await waitFor('the secondary to apply everything', async () => {
      const s = await volumeOf(secondary);
      return s.appliedSeq >= primaryVolume.durableSeq ? s : undefined;
    }, { timeoutMs: 30_000 });
    expect(await sha256(dataPath(secondary))).toBe(await sha256(dataPath(primary)));
    const bunkerVolume = await volumeOf(bunker);
    expect(bunkerVolume.durableSeq).toBeLessThanOrEqual((await volumeOf(secondary)).durableSeq);
    // The figures an operator watches: group-commit batch sizes, write latency, lag, log usage.
    const metrics = await primary.metrics();
    const sample = (name: string): number => Number(new RegExp(`^${name}\\{[^}]*volume="${VOLUME}"[^}]*\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    const entriesPerSync = sample('bunker_log_entries_appended_total') / sample('bunker_log_batches_total');
    process.stdout.write(`primary change log: ${entriesPerSync.toFixed(1)} entries per group commit at fio queue depth 16\n`);
    expect(entriesPerSync).toBeGreaterThan(1);
    expect(sample('bunker_write_latency_seconds_count')).toBeGreaterThanOrEqual(2048);
    expect(sample('bunker_peer_lag_entries')).toBe(0);
    expect(sample('bunker_log_size_bytes')).toBe(64 * MiB);
    // Exported from the start for each kind of small I/O, whether or not it ever fell back.
    for (const io of ['data-read', 'data-write', 'log-write']) expect(metrics).toMatch(new RegExp(`^bunker_sync_io_fallbacks_total\\{io="${io}"[^}]*\\} \\d+$`, 'm'));
    // Everything is on the secondary, so the primary trims its change log (trims are coalesced, about once a second).
    await waitFor('the primary to trim its log', async () => {
      const used = Number(new RegExp(`^bunker_log_used_bytes\\{[^}]*volume="${VOLUME}"[^}]*\\} (\\S+)$`, 'm').exec(await primary.metrics())?.[1] ?? NaN);
      return used < MiB ? true : undefined;
    }, { timeoutMs: 10_000 });
  }, 180_000);

  it('refuses NBD clients on the bunker and the secondary: only the primary exports the volume', async () => {
    for (const agent of [bunker, secondary]) {
      const info = await runClient('nbdinfo', [`nbd://${agent.host}:${agent.nbdPort}/${VOLUME}`], { timeoutMs: 20_000 });
      expect(info.code).not.toBe(0);
      expect(info.stderr).toMatch(/export|unknown|not found|server/i);
    }
  }, 60_000);

  it('nbdcopy, qemu-img and qemu-io read and write through the export', async () => {
    const uri = `nbd://${primary.host}:${primary.nbdPort}/${VOLUME}`;
    const image = join(baseDir, 'copy.img');
    await runClientOk('nbdcopy', [uri, image], { timeoutMs: 60_000 });
    await runClientOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', image, uri], { timeoutMs: 60_000 });
    await runClientOk('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 1M 256k', '-c', 'read -P 0x5a 1M 256k', uri], { timeoutMs: 60_000 });
    const wrong = await runClient('qemu-io', ['-f', 'raw', '-c', 'read -P 0x11 1M 256k', uri], { timeoutMs: 60_000 });
    expect(wrong.stdout + wrong.stderr).toMatch(/Pattern verification failed/);
    await runClientOk('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', image, uri], { timeoutMs: 60_000 });
    await runClientOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', image, uri], { timeoutMs: 60_000 });
  }, 120_000);
});

describe('faults on real agent processes', () => {
  it('a primary killed with SIGKILL during writes keeps every acknowledged write after restart', async () => {
    const name = 'default/kill9';
    await placeVolume(name);
    const ackLog = join(baseDir, 'kill9.acks');
    const writer = startWriter(name, ackLog, 20, 7);
    await waitFor('some acknowledged writes', async () => ((await readFile(ackLog, 'utf8').catch(() => '')).split('\n').length > 200 ? true : undefined), { timeoutMs: 20_000 });
    const ports = portsOf(primary);
    await primary.kill();
    await writer;
    primary = await start('site-a', ports);
    // The restarted agent reopens its log, applies incomplete writes and serves again by itself.
    await waitFor('the restarted primary to serve', async () => ((await volumeOf(primary, name)).nbdAddress !== '' ? true : undefined), { timeoutMs: 20_000 });
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath(primary, name), offset, length));
    process.stdout.write(`kill -9: ${result.blocksChecked} acknowledged blocks checked, ${result.lost.length} lost\n`);
    expect(result.blocksChecked).toBeGreaterThan(100);
    expect(result.lost).toEqual([]);
  }, 120_000);

  it('in recovery: sync the primary stops acknowledging when the bunker link is cut, and resumes when it returns', async () => {
    const name = 'default/bunkerloss';
    await placeVolume(name);
    const uri = `nbd://${primary.host}:${primary.nbdPort}/${name}`;
    await runClientOk('qemu-io', ['-f', 'raw', '-c', 'write -P 0x01 0 64k', uri], { timeoutMs: 30_000 });
    const bunkerHost = hostOf.get('site-b');
    const ports = portsOf(bunker);
    // A real partition where namespaces exist; otherwise the bunker process is killed.
    if (bunkerHost !== undefined) await bunkerHost.cut();
    else await bunker.kill();
    const started = Date.now();
    const refused = await runClient('qemu-io', ['-f', 'raw', '-c', 'write -P 0x02 0 64k', uri], { timeoutMs: 60_000 });
    const refusedAfterMs = Date.now() - started;
    expect(refused.stdout + refused.stderr).toMatch(/Input\/output error|write failed/);
    expect(refusedAfterMs).toBeLessThan(15_000);
    const health = await volumeOf(primary, name);
    expect(health.healthMessage).toMatch(/peer-unreachable|bunker/);
    expect(await primary.metrics()).toMatch(new RegExp(`bunker_bunker_reachable\\{[^}]*volume="${name}"[^}]*\\} 0`));
    if (bunkerHost !== undefined) await bunkerHost.restore();
    else bunker = await start('site-b', ports);
    await waitFor('writes to be acknowledged again', async () => {
      const again = await runClient('qemu-io', ['-f', 'raw', '-c', 'write -P 0x03 0 64k', '-c', 'read -P 0x03 0 64k', uri], { timeoutMs: 30_000 });
      return again.code === 0 && !/failed/.test(again.stdout + again.stderr) ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    process.stdout.write(`bunker loss: writes refused after ${refusedAfterMs} ms\n`);
  }, 120_000);
});
