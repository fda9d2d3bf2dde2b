// The takeover, driven at the agents as the operator will drive it: with a writer of
// verifiable blocks running through the primary, the primary is killed with SIGKILL (or its
// network cut); the bunker is fenced with epoch 2 and told to follow the secondary; the
// secondary drains the bunker's log copy and is promoted; every write the writer saw
// acknowledged must be on the new primary with its last acknowledged content.
// Method: three real agents, each in its own network namespace when run as root (else on
// loopback, said in the output); the writer is test/support/verifiable-writer.py (libnbd).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { FillPolicy, RecoveryMode, Role, SecondaryMode, type ConfigureRequest, type Peer, type VolumeStatus } from '@bunker/proto';
import { startAgent, type AgentProcess } from '../support/agent-process.js';
import { runClient } from '../support/nbd-clients.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange, verifyAcknowledged } from '../support/write-verifier.js';
import { repoRoot } from '../support/control-plane.js';
import { testHostsOrLoopback, type TestHost, type TestNetwork } from '../support/netns.js';

const MiB = 1024 * 1024;
let baseDir: string;
let network: TestNetwork | undefined;
const hostOf = new Map<string, TestHost>();
const agents = new Map<string, AgentProcess>();

function start(node: string): Promise<AgentProcess> {
  const host = hostOf.get(node);
  return startAgent({ node, baseDir, ...(host === undefined ? {} : { host: host.ip, netns: host.netns }) });
}

function agent(node: string): AgentProcess {
  const found = agents.get(node);
  if (found === undefined) throw new Error(`no agent ${node}`);
  return found;
}

const peer = (node: string): Peer => ({ node, address: agent(node).grpcAddress });

function request(volume: string, volumeUid: string, role: Role, epoch: number, peers: { primary?: string; bunker?: string; secondary?: string }): ConfigureRequest {
  return {
    volume, volumeUid, epoch, role, sizeBytes: 16 * MiB, logBytes: 64 * MiB,
    recovery: RecoveryMode.RECOVERY_MODE_SYNC, secondary: SecondaryMode.SECONDARY_MODE_ASYNC,
    fillPolicy: FillPolicy.FILL_POLICY_TRACK_CHANGES, changeMapRegionBytes: 64 * 1024,
    primary: peers.primary === undefined ? undefined : peer(peers.primary),
    bunker: peers.bunker === undefined ? undefined : peer(peers.bunker),
    secondaryPeer: peers.secondary === undefined ? undefined : peer(peers.secondary), clearChangeMap: false,
  };
}

async function volumeOn(node: string, volume: string): Promise<VolumeStatus | undefined> {
  return (await agent(node).status()).volumes.find((v) => v.volume === volume);
}


beforeAll(async () => {
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-takeover-'));
  network = await testHostsOrLoopback(['site-a', 'site-b', 'site-c'], 50);
  for (const host of network?.hosts ?? []) hostOf.set(host.name, host);
}, 30_000);

afterAll(async () => {
  await Promise.all([...agents.values()].map((a) => a.stop()));
  await network?.destroy();
  await rm(baseDir, { recursive: true, force: true });
});

describe.each([
  ['killed with SIGKILL', 'kill'],
  ['cut off from the network', 'cut'],
  ['killed while the secondary lags (a bunker backlog to drain)', 'backlog'],
] as const)('takeover after the primary is %s', (_what, fault) => {
  it('promotes the secondary from the bunker log copy and loses no acknowledged write', async () => {
    if (fault === 'cut' && network === undefined) throw new Error('a network cut needs network namespaces (run as root)');
    for (const node of ['site-a', 'site-b', 'site-c']) {
      if (!agents.has(node)) agents.set(node, await start(node));
    }
    await hostOf.get('site-a')?.restore();
    const volume = `default/takeover-${fault}`;
    const uid = randomUUID();
    await agent('site-b').configure(request(volume, uid, Role.ROLE_BUNKER, 1, { primary: 'site-a' }));
    await agent('site-c').configure(request(volume, uid, Role.ROLE_SECONDARY, 1, { primary: 'site-a' }));
    await agent('site-a').configure(request(volume, uid, Role.ROLE_PRIMARY, 1, { bunker: 'site-b', secondary: 'site-c' }));
    await waitFor('the primary to serve', async () => ((await volumeOn('site-a', volume))?.nbdAddress ? true : undefined), { timeoutMs: 15_000 });

    // A stopped secondary acknowledges nothing: every write piles up in the bunker's log copy.
    if (fault === 'backlog') agent('site-c').process.child.kill('SIGSTOP');
    const ackLog = join(baseDir, `${fault}.acks`);
    const writer = runClient('/usr/bin/python3', [
      join(repoRoot, 'test/support/verifiable-writer.py'), '--uri', `nbd://${agent('site-a').host}:${agent('site-a').nbdPort}/${volume}`,
      '--blocks', '1024', '--seconds', '20', '--ack-log', ackLog, '--seed', '11',
    ], { timeoutMs: 60_000 });
    await waitFor('writes to be acknowledged', async () => ((await readFile(ackLog, 'utf8').catch(() => '')).split('\n').length > 300 ? true : undefined), { timeoutMs: 20_000 });

    const faultAt = Date.now();
    if (fault === 'kill' || fault === 'backlog') {
      await agent('site-a').kill();
      agents.delete('site-a');
    } else {
      await hostOf.get('site-a')?.cut();
    }

    if (fault === 'backlog') agent('site-c').process.child.kill('SIGCONT');
    // Fence: epoch 2 at the bunker, which now follows the secondary; then drain and promote.
    await agent('site-b').configure(request(volume, uid, Role.ROLE_BUNKER, 2, { primary: 'site-c' }));
    const progress = await agent('site-c').drain({ volume, epoch: 2, bunker: peer('site-b'), blockBytes: 4 * MiB });
    const promoted = await waitFor('the new primary to serve', async () => {
      const status = await volumeOn('site-c', volume);
      return status !== undefined && status.nbdAddress !== '' ? status : undefined;
    }, { timeoutMs: 20_000 });
    const takeoverMs = Date.now() - faultAt;
    // The writer ends by itself: at once when its primary died, at its deadline when cut off.
    await writer;
    const last = progress.at(-1);
    expect(last?.done).toBe(true);
    expect(promoted.epoch).toBe(2);

    const dataPath = join(agent('site-c').dataDir, 'volumes', volume.replace('/', '__'), 'data.img');
    const result = await verifyAcknowledged(ackLog, (offset, length) => readFileRange(dataPath, offset, length));
    process.stdout.write(`takeover (${fault}): ${result.blocksChecked} acknowledged blocks, ${result.lost.length} lost, ` +
      `${last?.entriesReplayed ?? 0} entries replayed from the bunker, ${last?.incompleteWritesApplied ?? 0} incomplete writes applied, ` +
      `fault to serving ${takeoverMs} ms\n`);
    expect(result.blocksChecked).toBeGreaterThan(100);
    expect(result.lost).toEqual([]);
    if (fault === 'backlog') expect(last?.entriesReplayed ?? 0).toBeGreaterThan(100);

    // The bunker refuses the old epoch: the fenced old primary can no longer acknowledge.
    if (fault === 'cut') {
      await hostOf.get('site-a')?.restore();
      const late = await runClient('qemu-io', ['-f', 'raw', '-c', 'write -P 0x77 0 4k', `nbd://${agent('site-a').host}:${agent('site-a').nbdPort}/${volume}`], { timeoutMs: 30_000 });
      expect(late.stdout + late.stderr).toMatch(/failed|error|not available/i);
      const check = await readFileRange(dataPath, 0, 4096);
      expect(check.every((b) => b === 0x77)).toBe(false);
    }
  }, 180_000);
});
