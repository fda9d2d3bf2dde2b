// The keeper: slots alternate by generation, waiters resolve when both slots hold their
// version, marks ride along every N batches and never alone, a new tail takes effect only
// once both copies hold it.
import { epoch, seq } from '@bunker/proto/ids';
import type { ScanPoint } from './scan.js';
import { SuperblockKeeper, type SuperblockContent } from './superblock-keeper.js';
import { parseVolumeUid } from './volume-uid.js';
import { TEST_VOLUME_UID } from './testing/log-fixtures.js';

const tail = (position: number): ScanPoint => ({ position, prev: { epoch: epoch(1), seq: seq(position), session: 0 } });
const content = (tailPosition: number): SuperblockContent => ({
  volumeUid: parseVolumeUid(TEST_VOLUME_UID), logId: 1, session: 1, sizeBytes: 65536, epoch: epoch(1), head: 8192,
  tail: tailPosition, anchorEpoch: epoch(1), anchorSeq: seq(0), durableSeq: seq(0), appliedSeq: seq(0),
});

describe('SuperblockKeeper', () => {
  it('alternates slots and resolves a waiter only when both slots hold its version', async () => {
    const keeper = new SuperblockKeeper([4, 5], tail(8192), 100);
    keeper.touch();
    let resolved = false;
    void keeper.waitForBoth().then(() => { resolved = true; });
    expect(keeper.due(false)).toBe(true);
    const first = keeper.plan(content(9000), tail(9000));
    expect([first.slot, first.state.generation]).toEqual([0, 6]);
    keeper.written(first);
    await Promise.resolve();
    expect(resolved).toBe(false);
    expect(keeper.effectiveTail.position).toBe(8192);
    const second = keeper.plan(content(9000), tail(9000));
    expect([second.slot, second.state.generation]).toEqual([1, 7]);
    keeper.written(second);
    await Promise.resolve();
    expect(resolved).toBe(true);
    expect(keeper.effectiveTail.position).toBe(9000);
    expect(keeper.due(false)).toBe(false);
  });

  it('lets other changes ride along with a batch every N batches, never alone', () => {
    const keeper = new SuperblockKeeper([1, 2], tail(8192), 3);
    keeper.touch();
    keeper.countBatch();
    keeper.countBatch();
    expect(keeper.due(true)).toBe(false);
    keeper.countBatch();
    expect(keeper.due(false)).toBe(false);
    expect(keeper.due(true)).toBe(true);
  });

  it('serves requests that arrive while a write is under way within two more writes', async () => {
    const keeper = new SuperblockKeeper([1, 2], tail(8192), 100);
    const done: number[] = [];
    void keeper.waitForBoth(keeper.touch()).then(() => done.push(1));
    const write = keeper.plan(content(8192), tail(8192));
    void keeper.waitForBoth(keeper.touch()).then(() => done.push(2));
    keeper.written(write);
    for (let round = 0; round < 2; round += 1) keeper.written(keeper.plan(content(8192), tail(8192)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toEqual([1, 2]);
  });

  it('rejects waiters when the log fails', async () => {
    const keeper = new SuperblockKeeper([1, 2], tail(8192), 100);
    const waiting = keeper.waitForBoth(keeper.touch());
    keeper.failAll(new Error('EIO'));
    await expect(waiting).rejects.toThrow('EIO');
  });
});
