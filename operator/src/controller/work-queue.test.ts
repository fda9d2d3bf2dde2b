// The queue's contract: de-duplication, no concurrent processing of one key, re-processing
// of a key that changed while it was processed, bounded size, delayed adds.
import { WorkQueue } from './work-queue.js';

describe('WorkQueue', () => {
  it('queues a key once however often it is added', async () => {
    const queue = new WorkQueue({ keysMax: 10 });
    queue.add('a');
    queue.add('a');
    queue.add('b');
    expect(queue.depth).toBe(2);
    expect(await queue.next()).toBe('a');
    expect(await queue.next()).toBe('b');
  });

  it('never hands out a key that is being processed, and re-queues it if it changed meanwhile', async () => {
    const queue = new WorkQueue({ keysMax: 10 });
    queue.add('a');
    const first = await queue.next();
    queue.add('a');
    expect(queue.depth).toBe(0);
    queue.done(first ?? '');
    expect(queue.depth).toBe(1);
    expect(await queue.next()).toBe('a');
  });

  it('refuses new keys past its bound', () => {
    const queue = new WorkQueue({ keysMax: 2 });
    expect(queue.add('a')).toBe(true);
    expect(queue.add('b')).toBe(true);
    expect(queue.add('c')).toBe(false);
    expect(queue.add('a')).toBe(true);
  });

  it('wakes a waiting worker and delivers delayed keys', async () => {
    const queue = new WorkQueue({ keysMax: 10 });
    const waiting = queue.next();
    queue.addAfter('later', 20);
    expect(await waiting).toBe('later');
  });

  it('releases waiting workers on shutdown', async () => {
    const queue = new WorkQueue({ keysMax: 10 });
    const waiting = queue.next();
    queue.shutDown();
    expect(await waiting).toBeUndefined();
    expect(queue.add('x')).toBe(false);
  });
});
