import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Epoch, Seq } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import type { ByteRange } from '../replication/index.js';
import { blockChecksums } from './block-checksums.js';
import { RateLimiter, type Clock } from './rate-limiter.js';
import { ResyncRecordStore } from './resync-record.js';
import { ResyncRunner, type DivergenceInfo, type LocalHistory, type ResyncSource, type ResyncTarget } from './resync-runner.js';

const SIZE = 4 * 1024 * 1024;
const REGION = 4096;

function fakeClock(): Clock & { slept: number } {
  let now = 1_000;
  const clock = {
    slept: 0,
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
      clock.slept += ms;
      await Promise.resolve();
    },
  };
  return clock;
}

function entry(seq: number, offset: number, length: number, fill: number): Entry {
  return { epoch: 1 as Epoch, seq: seq as Seq, offset, length, kind: 'write', payload: new Uint8Array(length).fill(fill) };
}

class MemorySource implements ResyncSource {
  readonly node = 'site-b';
  data = new Uint8Array(SIZE);
  applied = 100 as Seq;
  failAfterReads = Infinity;
  reads = 0;
  constructor(private readonly info: Omit<DivergenceInfo, 'appliedSeq' | 'sizeBytes'>) {}
  divergenceInfo(): Promise<DivergenceInfo> {
    return Promise.resolve({ ...this.info, appliedSeq: this.applied, sizeBytes: SIZE });
  }
  checksumCalls = 0;
  checksums(ranges: readonly ByteRange[], blockBytes: number): Promise<{ checksums: Uint8Array[]; appliedSeq: Seq }> {
    this.checksumCalls += 1;
    return Promise.resolve({ checksums: ranges.flatMap((range) => blockChecksums(this.data.subarray(range.offset, range.offset + range.length), blockBytes)), appliedSeq: this.applied });
  }
  read(range: ByteRange): Promise<Uint8Array> {
    this.reads += 1;
    if (this.reads > this.failAfterReads) return Promise.reject(new Error('primary went away'));
    return Promise.resolve(this.data.slice(range.offset, range.offset + range.length));
  }
}

class MemoryTarget implements ResyncTarget {
  readonly sizeBytes = SIZE;
  data = new Uint8Array(SIZE);
  log: Entry[] = [];
  applied = 0 as Seq;
  followedAt: Seq | null = null;
  history_: LocalHistory = { firstSeq: 1 as Seq, lastSeq: 0 as Seq, appliedSeq: 0 as Seq, dataReplaced: false, changeMapRegions: [] };
  written = 0;
  sealed = 0;
  seal(): Promise<void> {
    this.sealed += 1;
    return Promise.resolve();
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return Promise.resolve(this.data.slice(offset, offset + length));
  }
  write(offset: number, bytes: Uint8Array): Promise<void> {
    this.data.set(bytes, offset);
    this.written += bytes.length;
    return Promise.resolve();
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  history(): LocalHistory {
    return this.history_;
  }
  async *entriesAfter(seq: Seq): AsyncIterable<readonly Entry[]> {
    await Promise.resolve();
    yield this.log.filter((e) => e.seq > seq);
  }
  follow(baseSeq: Seq): Promise<void> {
    this.followedAt ??= baseSeq;
    return Promise.resolve();
  }
  appliedSeq(): Seq {
    return this.applied;
  }
  logFirstSeq(): Seq {
    return this.history_.firstSeq;
  }
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bunker-resync-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function runner(source: ResyncSource, target: ResyncTarget, clock: Clock, full = false, rate = 1024 * 1024 * 1024): ResyncRunner {
  return new ResyncRunner({ epoch: 2, bytesPerSecondMax: rate, full }, source, target, new ResyncRecordStore(dir), clock);
}

/** A returning old primary: agreed with the primary through seq 50, then wrote region 10 alone. */
function diverged(): { source: MemorySource; target: MemoryTarget } {
  const source = new MemorySource({ divergenceSeq: 50 as Seq, changedRegions: [3, 4, 700], regionBytes: REGION });
  const target = new MemoryTarget();
  for (const [i, byte] of [[3, 1], [4, 2], [700, 3]] as const) source.data.fill(byte, i * REGION, (i + 1) * REGION);
  target.data.fill(9, 10 * REGION, 11 * REGION);
  source.data.fill(7, 900 * REGION, 901 * REGION); // identical on both sides: never a candidate
  target.data.fill(7, 900 * REGION, 901 * REGION);
  target.log = [entry(40, 20 * REGION, REGION, 5), entry(51, 10 * REGION, REGION, 9)];
  target.history_ = { firstSeq: 30 as Seq, lastSeq: 51 as Seq, appliedSeq: 51 as Seq, dataReplaced: false, changeMapRegions: [] };
  target.applied = 100 as Seq;
  return { source, target };
}

describe('ResyncRunner', () => {
  it('compares only the changed and divergent regions, copies only differing blocks, follows from the base and verifies', async () => {
    const { source, target } = diverged();
    const r = runner(source, target, fakeClock());
    await r.start();
    const status = r.status();
    expect(status.state).toBe('finished');
    expect(status.full).toBe(false);
    expect(status.regionsTotal).toBe(4); // 3, 4, 700 from the map; 10 from the returning log (entry 40 is before the divergence)
    expect(status.bytesCopied).toBe(4 * REGION);
    expect(target.written).toBe(4 * REGION);
    expect(Buffer.compare(Buffer.from(target.data), Buffer.from(source.data))).toBe(0);
    expect(target.followedAt).toBe(100);
    expect(target.sealed).toBe(1);
    // Scattered regions are compared in one call, not one per region (a far link's delay each).
    expect(source.checksumCalls).toBe(2); // the copy's and the verification's
  });

  it('skips candidate regions whose checksums already agree', async () => {
    const { source, target } = diverged();
    target.data.set(source.data.subarray(3 * REGION, 5 * REGION), 3 * REGION);
    const r = runner(source, target, fakeClock());
    await r.start();
    expect(r.status().bytesCopied).toBe(2 * REGION);
    expect(r.status().bytesSkipped).toBe(2 * REGION);
  });

  it('copies the whole volume when this replica has no history, and says so', async () => {
    const source = new MemorySource({ divergenceSeq: 50 as Seq, changedRegions: [], regionBytes: REGION });
    source.data.fill(4, 0, 3 * REGION);
    source.data.fill(6, SIZE - REGION, SIZE);
    const target = new MemoryTarget();
    target.applied = 100 as Seq;
    const r = runner(source, target, fakeClock());
    await r.start();
    const status = r.status();
    expect(status.full).toBe(true);
    expect(status.bytesTotal).toBe(SIZE);
    expect(status.bytesCopied).toBe(4 * REGION);
    expect(Buffer.compare(Buffer.from(target.data), Buffer.from(source.data))).toBe(0);
  });

  it('treats a replaced data volume as no history', async () => {
    const { source, target } = diverged();
    target.history_ = { ...target.history_, dataReplaced: true };
    const r = runner(source, target, fakeClock());
    await r.start();
    expect(r.status().full).toBe(true);
    expect(r.status().message).toMatch(/verified/);
  });

  it('resumes from the persisted record after a failure instead of starting over', async () => {
    const source = new MemorySource({ divergenceSeq: 50 as Seq, changedRegions: [], regionBytes: REGION });
    const target = new MemoryTarget();
    target.applied = 100 as Seq;
    for (let mib = 0; mib < 4; mib += 1) source.data.fill(mib + 1, mib * 1024 * 1024, mib * 1024 * 1024 + REGION);
    source.failAfterReads = 2;
    const first = runner(source, target, fakeClock());
    await first.start();
    expect(first.status().state).toBe('failed');
    expect(first.status().bytesDone).toBe(2 * 1024 * 1024);
    source.failAfterReads = Infinity;
    source.reads = 0;
    source.checksumCalls = 0;
    const second = runner(source, target, fakeClock());
    await second.start();
    expect(second.status().state).toBe('finished');
    expect(source.reads).toBe(2); // only the chunks the first run had not finished
    // Resumed, not re-planned: the copy compares the last two 1 MiB batches only (then 4 to verify).
    expect(source.checksumCalls).toBe(2 + 4);
    expect(Buffer.compare(Buffer.from(target.data), Buffer.from(source.data))).toBe(0);
  });

  it('accepts a verify difference only where its own log holds a later write', async () => {
    const { source, target } = diverged();
    // Verification sees the primary at seq 100, but this replica applied a later write to region 3.
    const original = target.follow.bind(target);
    target.follow = async (base) => {
      await original(base);
      target.data.fill(8, 3 * REGION, 4 * REGION);
      target.log.push(entry(101, 3 * REGION, REGION, 8));
      target.applied = 101 as Seq;
      setTimeout(() => source.data.fill(8, 3 * REGION, 4 * REGION), 0);
    };
    const r = runner(source, target, { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) });
    await r.start();
    expect(r.status().state).toBe('finished');
  });

  it('fails verification when a block differs with no later write, and keeps the record', async () => {
    const { source, target } = diverged();
    const original = target.follow.bind(target);
    target.follow = async (base) => {
      await original(base);
      target.data.fill(0xee, 700 * REGION, 700 * REGION + 512); // a lost write, not in any log
    };
    const r = runner(source, target, fakeClock());
    await r.start();
    expect(r.status().state).toBe('failed');
    expect(r.status().message).toMatch(/verification failed: 1 block/);
  });

  it('holds copies to the rate limit', async () => {
    const clock = fakeClock();
    const source = new MemorySource({ divergenceSeq: 50 as Seq, changedRegions: [], regionBytes: REGION });
    source.data.fill(1);
    const target = new MemoryTarget();
    target.applied = 100 as Seq;
    const r = runner(source, target, clock, true, 1024 * 1024);
    await r.start();
    // 4 MiB at 1 MiB/s with a one-second burst: at least 3 s of waiting.
    expect(clock.slept).toBeGreaterThanOrEqual(3000);
    expect(r.status().bytesCopied).toBe(SIZE);
  });

  it('holds copies to the rate limit when the same limit is requested again and again (the operator repeats Resync)', async () => {
    const clock = fakeClock();
    const source = new MemorySource({ divergenceSeq: 50 as Seq, changedRegions: [], regionBytes: REGION });
    source.data.fill(1);
    const target = new MemoryTarget();
    target.applied = 100 as Seq;
    const r = runner(source, target, clock, true, 1024 * 1024);
    const sleep = clock.sleep.bind(clock);
    clock.sleep = async (ms: number) => {
      await sleep(ms);
      r.setRate(1024 * 1024);
    };
    await r.start();
    expect(clock.slept).toBeGreaterThanOrEqual(3000);
    expect(r.status().bytesCopied).toBe(SIZE);
  });
});

describe('RateLimiter', () => {
  it('lets a burst of one second through and then paces', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(1000, clock);
    await limiter.take(1000);
    expect(clock.slept).toBe(0);
    await limiter.take(500);
    expect(clock.slept).toBe(500);
  });

  it('keeps its bucket when its rate is set again: no new burst', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(1000, clock);
    await limiter.take(1000);
    limiter.setRate(1000);
    await limiter.take(500);
    expect(clock.slept).toBe(500);
    limiter.setRate(2000);
    await limiter.take(2000);
    expect(clock.slept).toBe(1500);
  });

  it('refuses a non-positive rate', () => {
    expect(() => new RateLimiter(0, fakeClock())).toThrow(RangeError);
  });
});
