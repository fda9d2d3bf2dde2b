// A primary whose change log fills because the secondary stops following (paused with
// SIGSTOP), with three real agent processes and a real NBD client writing 1 MiB blocks.
// What the fill policy promises, as the client sees it:
// - fail: once the log has no room, writes get ENOSPC at once (no write hangs), the agent
//   reports log_full, and writes are taken again once the secondary catches up;
// - block: writes wait for room, and complete when the secondary resumes;
// and in both, every write that was acknowledged is on the primary and, once the secondary
// has caught up, the two data files are byte-identical.
// Agents in network namespaces when run as root (subnets 82-84), else on loopback.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { FillPolicy, RecoveryMode, Role, SecondaryMode, type ConfigureRequest, type Peer, type VolumeStatus } from '@bunker/proto';
import { startAgent, type AgentProcess } from '../support/agent-process.js';
import { differingBytes } from '../support/data-diff.js';
import { runClient } from '../support/nbd-clients.js';
import { testHostsOrLoopback, type TestNetwork } from '../support/netns.js';
import { waitFor } from '../support/wait-for.js';
import { readFileRange } from '../support/write-verifier.js';

const MiB = 1024 * 1024;
const SIZE_BYTES = 64 * MiB;
const LOG_BYTES = 16 * MiB;
const WRITES = 20;

let baseDir: string;
let network: TestNetwork | undefined;
let primary: AgentProcess;
let bunker: AgentProcess;
let secondary: AgentProcess;

/** Writes block i (1 MiB of byte i+1) at offset i MiB, one at a time, and says what each got. */
const WRITER = `
import json, sys, time
import nbd
uri, count = sys.argv[1], int(sys.argv[2])
h = nbd.NBD()
h.connect_uri(uri)
for i in range(count):
    started = time.monotonic()
    try:
        h.pwrite(bytes([i + 1]) * (1 << 20), i << 20)
        print(json.dumps({"i": i, "result": "ok", "seconds": time.monotonic() - started}), flush=True)
    except nbd.Error as e:
        print(json.dumps({"i": i, "result": "error", "errno": e.errno, "error": e.string, "seconds": time.monotonic() - started}), flush=True)
h.shutdown()
`;

interface WriteResult {
  readonly i: number;
  readonly result: 'ok' | 'error';
  /** As libnbd's Python binding gives it: the symbolic name (ENOSPC). */
  readonly errno?: string;
  readonly error?: string;
  readonly seconds: number;
}

function request(volume: string, uid: string, fillPolicy: FillPolicy, role: Role, peers: { primary?: Peer; bunker?: Peer; secondaryPeer?: Peer }): ConfigureRequest {
  return {
    volume, volumeUid: uid, epoch: 1, role, sizeBytes: SIZE_BYTES, logBytes: LOG_BYTES,
    recovery: RecoveryMode.RECOVERY_MODE_SYNC, secondary: SecondaryMode.SECONDARY_MODE_ASYNC,
    fillPolicy, changeMapRegionBytes: 64 * 1024,
    primary: peers.primary, bunker: peers.bunker, secondaryPeer: peers.secondaryPeer, clearChangeMap: false,
  };
}

const peer = (agent: AgentProcess): Peer => ({ node: agent.node, address: agent.grpcAddress });
const dataPath = (agent: AgentProcess, volume: string): string => join(agent.dataDir, 'volumes', volume.replace('/', '__'), 'data.img');

async function volumeOf(agent: AgentProcess, volume: string): Promise<VolumeStatus> {
  const found = (await agent.status()).volumes.find((v) => v.volume === volume);
  if (found === undefined) throw new Error(`${agent.node} does not hold ${volume}`);
  return found;
}

async function place(volume: string, fillPolicy: FillPolicy): Promise<void> {
  const uid = randomUUID();
  await bunker.configure(request(volume, uid, fillPolicy, Role.ROLE_BUNKER, { primary: peer(primary) }));
  await secondary.configure(request(volume, uid, fillPolicy, Role.ROLE_SECONDARY, { primary: peer(primary) }));
  await primary.configure(request(volume, uid, fillPolicy, Role.ROLE_PRIMARY, { bunker: peer(bunker), secondaryPeer: peer(secondary) }));
  await waitFor(`the primary to serve ${volume}`, async () => ((await volumeOf(primary, volume)).nbdAddress !== '' ? true : undefined), { timeoutMs: 15_000 });
}

function write(volume: string, count: number): Promise<WriteResult[]> {
  return runClient('/usr/bin/python3', ['-c', WRITER, `nbd://${primary.host}:${primary.nbdPort}/${volume}`, String(count)], { timeoutMs: 120_000 }).then((run) => {
    if (run.code !== 0) throw new Error(`the writer failed (${run.code ?? run.signal}): ${run.stderr}`);
    return run.stdout.trim().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as WriteResult);
  });
}

/** Waits until the secondary applied all the primary holds, then compares the data files. */
async function convergedAndAcknowledgedPresent(volume: string, results: readonly WriteResult[]): Promise<number> {
  await waitFor(`the secondary to catch up on ${volume}`, async () => {
    const [p, s] = [await volumeOf(primary, volume), await volumeOf(secondary, volume)];
    return s.appliedSeq >= p.durableSeq ? true : undefined;
  }, { timeoutMs: 30_000 });
  for (const r of results.filter((x) => x.result === 'ok')) {
    const block = await readFileRange(dataPath(primary, volume), r.i * MiB, MiB);
    expect({ i: r.i, intact: block.equals(Buffer.alloc(MiB, r.i + 1)) }).toEqual({ i: r.i, intact: true });
  }
  return differingBytes(dataPath(primary, volume), dataPath(secondary, volume), SIZE_BYTES);
}

const summary = (results: readonly WriteResult[]): string => results.map((r) => `${r.i}:${r.result === 'ok' ? 'ok' : `errno ${r.errno ?? '?'}`} ${r.seconds.toFixed(2)}s`).join(', ');

beforeAll(async () => {
  baseDir = await mkdtemp(join(tmpdir(), 'bunker-logfull-'));
  network = await testHostsOrLoopback(['site-a', 'site-b', 'site-c'], 82);
  const [a, b, c] = await Promise.all(['site-a', 'site-b', 'site-c'].map((node, index) => {
    const host = network?.hosts[index];
    return startAgent({ node, baseDir, ...(host === undefined ? {} : { host: host.ip, netns: host.netns }) });
  }));
  if (a === undefined || b === undefined || c === undefined) throw new Error('agents did not start');
  [primary, bunker, secondary] = [a, b, c];
}, 60_000);

afterAll(async () => {
  secondary?.process.child.kill('SIGCONT');
  await Promise.all([primary, bunker, secondary].filter((a) => a !== undefined).map((a) => a.stop()));
  await network?.destroy();
  if (baseDir !== undefined) await rm(baseDir, { recursive: true, force: true });
}, 30_000);

describe('a change log filled by a secondary that stopped following', () => {
  it('fillPolicy fail: writes past the log get ENOSPC at once, never hang, and are taken again once the secondary catches up', async () => {
    const volume = 'default/full-fail';
    await place(volume, FillPolicy.FILL_POLICY_FAIL);
    secondary.process.child.kill('SIGSTOP');
    let results: WriteResult[];
    let reported: VolumeStatus;
    try {
      results = await write(volume, WRITES);
      reported = await volumeOf(primary, volume);
    } finally {
      secondary.process.child.kill('SIGCONT');
    }
    process.stdout.write(`fail, secondary paused, ${LOG_BYTES / MiB} MiB log: ${summary(results)}; primary log ${reported.logUsedBytes} of ${reported.logSizeBytes} bytes, log_full ${reported.logFull}\n`);
    const ok = results.filter((r) => r.result === 'ok');
    const refused = results.filter((r) => r.result === 'error');
    expect(ok.length).toBeGreaterThan(5);
    expect(refused.length).toBeGreaterThan(0);
    // ENOSPC, promptly: the core refuses before the write gets a sequence.
    expect(refused.every((r) => r.errno === 'ENOSPC' && r.seconds < 5)).toBe(true);
    expect(reported.logFull).toBe(true);

    const after = await waitFor('writes taken again after the secondary resumed', async () => {
      const again = await write(volume, 1);
      return again[0]?.result === 'ok' ? again : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    const differing = await convergedAndAcknowledgedPresent(volume, [...results.filter((r) => r.i > 0), ...after]);
    expect(differing).toBe(0);
  }, 120_000);

  it('fillPolicy block: writes past the log wait for room and complete when the secondary resumes', async () => {
    const volume = 'default/full-block';
    await place(volume, FillPolicy.FILL_POLICY_BLOCK);
    secondary.process.child.kill('SIGSTOP');
    const writing = write(volume, WRITES);
    try {
      await waitFor('a write waiting for room', async () => ((await volumeOf(primary, volume)).logFull ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    } finally {
      secondary.process.child.kill('SIGCONT');
    }
    const results = await writing;
    process.stdout.write(`block, secondary paused 2 s after the log filled: ${summary(results)}\n`);
    expect(results.filter((r) => r.result !== 'ok')).toEqual([]);
    expect(Math.max(...results.map((r) => r.seconds))).toBeGreaterThan(1.5);
    expect(await convergedAndAcknowledgedPresent(volume, results)).toBe(0);
  }, 120_000);
});
