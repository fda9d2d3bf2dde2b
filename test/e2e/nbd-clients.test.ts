// Checks the NBD server against the real clients Bunker's users and benchmarks run: nbdinfo
// (size, block sizes, advertised capabilities), fio with its nbd engine (random writes verified
// with crc32c, one connection and four at once), nbdcopy in and out, qemu-img compare and
// convert, qemu-io writing and reading a pattern, and several clients at the same time.
// Method: one file-backed export of 16 MiB on a loopback port the kernel picks; every client run
// is killed after a time limit; temporary files live in one folder removed in afterAll.
import { readFile, writeFile, truncate } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runClient, runClientOk, startFileExport, type FileExport } from '../support/nbd-clients.js';

const MiB = 1024 * 1024;
const SIZE_BYTES = 16 * MiB;
let fx: FileExport;

beforeAll(async () => {
  fx = await startFileExport({ name: 'vol', sizeBytes: SIZE_BYTES });
});

afterAll(async () => {
  await fx.close();
});

interface FioJob {
  readonly error: number;
  readonly writeBytes: number;
  readonly readBytes: number;
}

/** Picks what the tests check out of fio's JSON report, refusing any other shape. */
function parseFio(stdout: string): FioJob[] {
  const parsed: unknown = JSON.parse(stdout.slice(stdout.indexOf('{')));
  if (typeof parsed !== 'object' || parsed === null || !('jobs' in parsed) || !Array.isArray(parsed.jobs)) {
    throw new Error(`unexpected fio output: ${stdout}`);
  }
  return parsed.jobs.map((job: unknown): FioJob => {
    if (typeof job !== 'object' || job === null || !('error' in job) || typeof job.error !== 'number' ||
      !('write' in job) || !('read' in job)) {
      throw new Error(`unexpected fio job: ${JSON.stringify(job)}`);
    }
    return { error: job.error, writeBytes: ioBytes(job.write), readBytes: ioBytes(job.read) };
  });
}

function ioBytes(direction: unknown): number {
  if (typeof direction !== 'object' || direction === null || !('io_bytes' in direction) || typeof direction.io_bytes !== 'number') {
    throw new Error(`unexpected fio direction: ${JSON.stringify(direction)}`);
  }
  return direction.io_bytes;
}

describe('real NBD clients against a file-backed export', () => {
  it('nbdinfo reports the size, the block sizes and the capabilities we advertise', async () => {
    const run = await runClientOk('nbdinfo', ['--json', fx.uri()], { timeoutMs: 10_000 });
    const info: unknown = JSON.parse(run.stdout);
    expect(info).toMatchObject({
      protocol: 'newstyle-fixed',
      TLS: false,
      exports: [{
        'export-name': 'vol',
        description: 'test volume vol',
        'export-size': SIZE_BYTES,
        'block_size_minimum': 512,
        'block_size_preferred': 4096,
        'block_size_maximum': 32 * MiB,
        'is_read_only': false,
        'can_flush': true,
        'can_fua': true,
        'can_trim': true,
        'can_zero': true,
        'can_multi_conn': true,
        'can_df': false,
        'can_cache': false,
        'can_fast_zero': false,
      }],
    });
    const list = await runClientOk('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${fx.port}`], { timeoutMs: 10_000 });
    expect(list.stdout).toContain('"export-name": "vol"');
  });

  it('fio (nbd engine) random 4 KiB writes at queue depth 16 verify with crc32c', async () => {
    const run = await runClientOk('fio', [
      '--name=bunker-verify', '--ioengine=nbd', `--uri=${fx.uri()}`, '--rw=randwrite', '--bs=4k', '--size=8m',
      '--iodepth=16', '--verify=crc32c', '--verify_state_save=0', '--do_verify=1', '--verify_fatal=1', '--output-format=json',
    ], { timeoutMs: 60_000 });
    const [job] = parseFio(run.stdout);
    expect(job?.error).toBe(0);
    expect(job?.writeBytes).toBe(8 * MiB);
    expect(job?.readBytes).toBe(8 * MiB); // the verify pass read everything back
  });

  it('fio with four jobs, each on its own connection and region, verifies concurrently', async () => {
    const run = await runClientOk('fio', [
      '--name=bunker-multi', '--ioengine=nbd', `--uri=${fx.uri()}`, '--rw=randwrite', '--bs=4k', '--size=2m',
      '--numjobs=4', '--offset_increment=2m', '--iodepth=8', '--verify=crc32c', '--verify_state_save=0', '--verify_fatal=1', '--output-format=json',
    ], { timeoutMs: 60_000 });
    const jobs = parseFio(run.stdout);
    expect(jobs).toHaveLength(4);
    for (const job of jobs) {
      expect(job.error).toBe(0);
      expect(job.readBytes).toBe(2 * MiB);
    }
  });

  it('nbdcopy copies a file in and out unchanged, over one connection and over four', async () => {
    const source = join(fx.dir, 'source.img');
    const copied = join(fx.dir, 'copied.img');
    await writeFile(source, randomBytes(4 * MiB));
    await truncate(source, SIZE_BYTES); // the rest stays a hole, which nbdcopy may zero or skip
    await runClientOk('nbdcopy', [source, fx.uri()], { timeoutMs: 30_000 });
    await runClientOk('nbdcopy', [fx.uri(), copied], { timeoutMs: 30_000 });
    expect((await readFile(copied)).equals(await readFile(source))).toBe(true);

    await writeFile(source, randomBytes(SIZE_BYTES));
    await runClientOk('nbdcopy', ['--connections=4', '--requests=16', source, fx.uri()], { timeoutMs: 30_000 });
    await runClientOk('nbdcopy', ['--connections=4', fx.uri(), copied], { timeoutMs: 30_000 });
    expect((await readFile(copied)).equals(await readFile(source))).toBe(true);
  });

  it('qemu-img compares the export with its source and converts it back', async () => {
    const source = join(fx.dir, 'qemu-source.img');
    await writeFile(source, randomBytes(SIZE_BYTES));
    await runClientOk('nbdcopy', [source, fx.uri()], { timeoutMs: 30_000 });
    const same = await runClientOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', source, fx.uri()], { timeoutMs: 30_000 });
    expect(same.stdout).toContain('Images are identical.');
    const converted = join(fx.dir, 'converted.img');
    await runClientOk('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', fx.uri(), converted], { timeoutMs: 30_000 });
    expect((await readFile(converted)).equals(await readFile(source))).toBe(true);

    const different = join(fx.dir, 'different.img');
    const bytes = await readFile(source);
    bytes[SIZE_BYTES - 1] = (bytes[SIZE_BYTES - 1] ?? 0) ^ 0xff;
    await writeFile(different, bytes);
    const changed = await runClient('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', different, fx.uri()], { timeoutMs: 30_000 });
    expect(changed.code).toBe(1); // 1: images differ
    expect(changed.stdout).toContain(`Content mismatch at offset ${SIZE_BYTES - 512}!`); // reported per 512-byte sector
  });

  it('qemu-io writes a 64 KiB pattern and reads it back; a wrong pattern is caught', async () => {
    const run = await runClientOk('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 0 64k', '-c', 'read -P 0xab 0 64k', fx.uri()], { timeoutMs: 20_000 });
    expect(run.stdout).toContain('wrote 65536/65536 bytes at offset 0');
    expect(run.stdout).toContain('read 65536/65536 bytes at offset 0');
    expect(run.stdout).not.toContain('Pattern verification failed');
    const wrong = await runClient('qemu-io', ['-f', 'raw', '-c', 'read -P 0xcd 0 64k', fx.uri()], { timeoutMs: 20_000 });
    expect(wrong.stdout + wrong.stderr).toContain('Pattern verification failed');
  });

  it('serves eight qemu-io clients at once, each writing and verifying its own region', async () => {
    const runs = await Promise.all(Array.from({ length: 8 }, (_, index) => {
      const offset = `${index}M`;
      const pattern = `0x${(0x10 + index).toString(16)}`;
      return runClient('qemu-io', ['-f', 'raw', '-c', `write -P ${pattern} ${offset} 1M`, '-c', `read -P ${pattern} ${offset} 1M`, fx.uri()], { timeoutMs: 30_000 });
    }));
    for (const run of runs) {
      expect(run.code).toBe(0);
      expect(run.stdout).not.toContain('Pattern verification failed');
    }
  });
});
