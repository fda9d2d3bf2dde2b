// Method: the publisher driven by hand-made progress messages, a hand-moved clock and a
// patcher whose answers the test resolves, so each rule (first block first, one patch in
// flight, one per interval, resourceVersions chained, a failure stops it) is seen alone.
import type { DrainProgress } from '@bunker/proto';
import type { Epoch, NodeName } from '@bunker/proto/ids';
import type { TakeoverProgress } from '../api/index.js';
import { DrainProgressPublisher, remaining } from './drain-progress-publisher.js';

const TAKEOVER: TakeoverProgress = {
  step: 'drain', reason: 'NodeNotReady', startedAt: '2030-01-01T00:00:00Z', fromNode: 'site-a' as NodeName, targetNode: 'site-c' as NodeName,
  fromEpoch: 1 as Epoch, toEpoch: 2 as Epoch,
};

function progress(appliedSeq: number, targetSeq: number, entriesReplayed: number, bytesReplayed: number, done = false): DrainProgress {
  return { appliedSeq, targetSeq, entriesReplayed, bytesReplayed, incompleteWritesApplied: 0, done };
}

interface Patch { readonly resourceVersion: string; readonly takeover: TakeoverProgress; answer(next: string): void; fail(error: Error): void }

function harness(): { publisher: DrainProgressPublisher; patches: Patch[]; clock: { ms: number } } {
  const patches: Patch[] = [];
  const clock = { ms: 0 };
  const publisher = new DrainProgressPublisher('10', TAKEOVER, (resourceVersion, takeover) => new Promise<string>((resolve, reject) => {
    patches.push({ resourceVersion, takeover, answer: resolve, fail: reject });
  }), () => clock.ms, 500);
  return { publisher, patches, clock };
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('remaining', () => {
  it('knows nothing before the first block: no entries replayed yet', () => {
    expect(remaining(progress(100, 100, 0, 0))).toBeNull();
  });

  it('counts entries left exactly and estimates bytes from the mean entry drained so far', () => {
    expect(remaining(progress(110, 150, 10, 40_960))).toEqual({ entriesLeft: 40, bytesLeft: 163_840 });
    expect(remaining(progress(150, 150, 50, 204_800))).toEqual({ entriesLeft: 0, bytesLeft: 0 });
  });
});

describe('DrainProgressPublisher', () => {
  it('patches status.takeover with the figures, quoting the resourceVersion it holds, and chains the next one', async () => {
    const { publisher, patches, clock } = harness();
    publisher.offer(progress(110, 150, 10, 40_960));
    expect(patches).toHaveLength(1);
    expect(patches[0]).toMatchObject({ resourceVersion: '10', takeover: { ...TAKEOVER, entriesLeft: 40, bytesLeft: 163_840 } });
    patches[0]?.answer('11');
    await settled();
    clock.ms = 600;
    publisher.offer(progress(130, 150, 30, 122_880));
    expect(patches[1]).toMatchObject({ resourceVersion: '11', takeover: { entriesLeft: 20, bytesLeft: 81_920 } });
    patches[1]?.answer('12');
    await expect(publisher.settle()).resolves.toEqual({ resourceVersion: '12', failure: null });
  });

  it('keeps one patch in flight and one per interval, and skips unchanged figures', async () => {
    const { publisher, patches, clock } = harness();
    publisher.offer(progress(100, 100, 0, 0));
    expect(patches).toHaveLength(0);
    publisher.offer(progress(110, 150, 10, 100));
    publisher.offer(progress(120, 150, 20, 200));
    expect(patches).toHaveLength(1);
    patches[0]?.answer('11');
    await settled();
    clock.ms = 499;
    publisher.offer(progress(120, 150, 20, 200));
    publisher.offer(progress(125, 150, 25, 250));
    expect(patches).toHaveLength(1);
    clock.ms = 1_000;
    publisher.offer(progress(110, 150, 10, 100));
    expect(patches).toHaveLength(1);
    publisher.offer(progress(140, 150, 40, 400));
    expect(patches).toHaveLength(2);
  });

  it('waits for the patch in flight when the drain ends, and publishes nothing after that', async () => {
    const { publisher, patches } = harness();
    publisher.offer(progress(110, 150, 10, 100));
    const settling = publisher.settle();
    patches[0]?.answer('11');
    await expect(settling).resolves.toEqual({ resourceVersion: '11', failure: null });
    publisher.offer(progress(140, 150, 40, 400));
    expect(patches).toHaveLength(1);
  });

  it('stops after a failed patch and keeps the resourceVersion it had, for the final status write', async () => {
    const { publisher, patches, clock } = harness();
    publisher.offer(progress(110, 150, 10, 100));
    const conflict = new Error('409 Conflict');
    patches[0]?.fail(conflict);
    await settled();
    clock.ms = 10_000;
    publisher.offer(progress(140, 150, 40, 400));
    expect(patches).toHaveLength(1);
    await expect(publisher.settle()).resolves.toEqual({ resourceVersion: '10', failure: conflict });
  });

  it('does not publish the final message: the reconcile writes the finished figures itself', () => {
    const { publisher, patches } = harness();
    publisher.offer(progress(150, 150, 50, 500, true));
    expect(patches).toHaveLength(0);
  });
});
