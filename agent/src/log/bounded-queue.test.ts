// BoundedQueue: first in, first out, never more than its capacity.
import { BoundedQueue } from './bounded-queue.js';

describe('BoundedQueue', () => {
  it('keeps order across wrap-around and refuses when full', () => {
    const queue = new BoundedQueue<number>(3);
    expect([queue.push(1), queue.push(2), queue.push(3), queue.push(4)]).toEqual([true, true, true, false]);
    expect(queue.full).toBe(true);
    expect(queue.shift()).toBe(1);
    expect(queue.push(4)).toBe(true);
    expect(queue.peek()).toBe(2);
    expect(queue.drain()).toEqual([2, 3, 4]);
    expect(queue.length).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });

  it('refuses a capacity below one', () => {
    expect(() => new BoundedQueue(0)).toThrow(RangeError);
  });
});
