// Checks that bad input from a real client library gets the protocol's error value and leaves the
// connection usable, and that misbehaving raw clients do not disturb a real workload. Method:
// nbdsh (libnbd's Python shell) with strict mode off, so libnbd sends requests it would
// normally refuse on the client side (past the end, misaligned, over the maximum payload, a
// command that was not advertised, writes to a read-only export) and prints the errno each got;
// then fio verifies a random-write workload while raw sockets send a bad magic, vanish
// mid-header and mid-payload, and abandon a handshake. Export: 16 MiB file, 1 MiB maximum payload.
import type { NbdObserver } from '../../agent/src/nbd/nbd-observer.js';
import { NBD_CMD_READ, NBD_CMD_WRITE } from '../../agent/src/nbd/protocol-constants.js';
import { RawNbdClient, runClient, runClientOk, startFileExport, type FileExport } from '../support/nbd-clients.js';

const MiB = 1024 * 1024;
let fx: FileExport;
/** What the server itself answered (kind and errno), proving the errors did not come from libnbd. */
const answered: string[] = [];

beforeAll(async () => {
  const observer: NbdObserver = {
    onRequest: (kind, _bytes, _latencyNs, errno) => answered.push(`${kind}:${errno}`),
    onConnection: () => undefined,
  };
  fx = await startFileExport({ name: 'vol', sizeBytes: 16 * MiB, maximumPayloadBytes: MiB, server: { observer } });
  fx.server.addExport('ro', fx.device, { readOnly: true });
});

afterAll(async () => {
  await fx.close();
});

/** Runs `attempts` (Python expressions using `h`) on one handle; returns each one's errno name or 'ok'. */
async function nbdshAttempts(exportName: string, attempts: Readonly<Record<string, string>>): Promise<Record<string, string>> {
  const lines = [
    'import json',
    'h.set_strict_mode(0)',
    `h.connect_uri(${JSON.stringify(fx.uri(exportName))})`,
    'results = {}',
    'def attempt(name, fn):',
    '    try:',
    '        fn()',
    "        results[name] = 'ok'",
    '    except nbd.Error as e:',
    '        results[name] = e.errno',
    ...Object.entries(attempts).map(([name, expression]) => `attempt(${JSON.stringify(name)}, lambda: ${expression})`),
    'h.shutdown()',
    'print(json.dumps(results))',
  ];
  const run = await runClientOk('nbdsh', ['-c', lines.join('\n')], { timeoutMs: 20_000 });
  const parsed: unknown = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}');
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`unexpected nbdsh output: ${run.stdout}`);
  return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)]));
}

describe('bad input through libnbd (nbdsh, strict mode off)', () => {
  it('gets EINVAL or ENOSPC as the spec says, and the same connection keeps working', async () => {
    answered.length = 0;
    const results = await nbdshAttempts('vol', {
      'read past the end': 'h.pread(512, h.get_size())',
      'write past the end': "h.pwrite(b'x' * 1024, h.get_size() - 512)",
      'write-zeroes past the end': 'h.zero(4096, h.get_size())',
      'trim past the end': 'h.trim(4096, h.get_size())',
      'misaligned read': 'h.pread(512, 100)',
      'read over the maximum payload': 'h.pread(2 * 1024 * 1024, 0)',
      'write over the maximum payload': "h.pwrite(b'y' * (2 * 1024 * 1024), 0)",
      'cache (not advertised, unknown here)': 'h.cache(4096, 0)',
      'a good write afterwards': "h.pwrite(b'z' * 4096, 0)",
      'a good read afterwards': "h.pread(4096, 0) == b'z' * 4096 or (_ for _ in ()).throw(Exception('data'))",
      'a flush': 'h.flush()',
    });
    expect(results).toEqual({
      'read past the end': 'EINVAL',
      'write past the end': 'ENOSPC',
      'write-zeroes past the end': 'ENOSPC',
      'trim past the end': 'EINVAL',
      'misaligned read': 'EINVAL',
      'read over the maximum payload': 'EINVAL',
      'write over the maximum payload': 'EINVAL',
      'cache (not advertised, unknown here)': 'EINVAL',
      'a good write afterwards': 'ok',
      'a good read afterwards': 'ok',
      'a flush': 'ok',
    });
    // Every refusal above was sent by the server (EINVAL 22, ENOSPC 28), in request order.
    expect(answered.slice(0, 8)).toEqual(['read:22', 'write:28', 'write-zeroes:28', 'trim:22', 'read:22', 'read:22', 'write:22', 'other:22']);
  });

  it('refuses writes, trims and write-zeroes on a read-only export with EPERM', async () => {
    const results = await nbdshAttempts('ro', {
      'is read-only': "h.is_read_only() or (_ for _ in ()).throw(Exception('flag'))",
      write: "h.pwrite(b'x' * 512, 0)",
      trim: 'h.trim(512, 0)',
      'write-zeroes': 'h.zero(512, 0)',
      read: 'h.pread(512, 0)',
    });
    expect(results).toEqual({ 'is read-only': 'ok', write: 'EPERM', trim: 'EPERM', 'write-zeroes': 'EPERM', read: 'ok' });
  });

  it('refuses an unknown export name during the handshake', async () => {
    const run = await runClient('nbdsh', ['-u', fx.uri('missing'), '-c', 'print(1)'], { timeoutMs: 10_000 });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("server has no export named 'missing'");
  });
});

describe('misbehaving raw clients next to a real workload', () => {
  it('fio verifies while other connections send a bad magic, vanish mid-message or abandon the handshake', async () => {
    const fio = runClient('fio', [
      '--name=bystander', '--ioengine=nbd', `--uri=${fx.uri()}`, '--rw=randwrite', '--bs=4k', '--size=4m', '--offset=8m',
      '--iodepth=16', '--verify=crc32c', '--verify_state_save=0', '--verify_fatal=1', '--loops=3',
    ], { timeoutMs: 60_000 });

    const abandoned = await RawNbdClient.handshake(fx.port);
    const badMagic = await RawNbdClient.transmission(fx.port, 'vol');
    badMagic.client.sendRequest({ type: NBD_CMD_READ, magic: 0xdeadbeef, length: 512 });
    const midHeader = await RawNbdClient.transmission(fx.port, 'vol');
    midHeader.client.write(Buffer.from([0x25, 0x60, 0x95, 0x13, 0, 0]));
    const midPayload = await RawNbdClient.transmission(fx.port, 'vol');
    midPayload.client.sendRequest({ type: NBD_CMD_WRITE, offset: 0n, length: 65536 }, Buffer.alloc(1000, 0xee));
    expect(await badMagic.client.closedByServer()).toBe(true);
    midHeader.client.destroy();
    midPayload.client.destroy();
    abandoned.client.destroy();

    const run = await fio;
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/err= 0/);
    // The payload cut short never reached the device: offset 0 does not hold its 0xee bytes.
    expect((await fx.device.read(0, 1000)).every((byte) => byte === 0xee)).toBe(false);
    await runClientOk('nbdinfo', ['--size', fx.uri()], { timeoutMs: 10_000 });
  });
});
