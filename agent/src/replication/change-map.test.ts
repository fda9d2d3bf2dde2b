// Method: examples of the change map's contract: marks report only newly dirty regions, stay
// inside the volume, and survive a restart through the regions the driver persisted.
import { epoch, seq } from '@bunker/proto/ids';
import { AssertionError } from './assert.js';
import { ChangeMap, regionsOf } from './change-map.js';

const write = (offset: number, length: number) => ({ epoch: epoch(1), seq: seq(1), offset, length, kind: 'write' as const, payload: new Uint8Array(length) });

describe('ChangeMap', () => {
  it('reports each region once, when it first becomes dirty', () => {
    const map = new ChangeMap(4096, 16 * 4096);
    expect(map.mark(write(4000, 200))).toEqual([0, 1]);
    expect(map.mark(write(4096, 10))).toEqual([]);
    expect(map.regions()).toEqual([0, 1]);
    expect(map.size).toBe(2);
    map.clear();
    expect(map.regions()).toEqual([]);
  });

  it('is rebuilt from persisted regions', () => {
    expect(new ChangeMap(4096, 16 * 4096, [5, 3]).regions()).toEqual([3, 5]);
  });

  it('refuses a region outside the volume: that is a bug, not an input', () => {
    expect(() => new ChangeMap(4096, 4096, [1])).toThrow(AssertionError);
    expect(() => new ChangeMap(0, 4096)).toThrow(AssertionError);
  });

  it('regionsOf covers the byte range, and nothing for an empty one', () => {
    expect(regionsOf(0, 1, 512)).toEqual([0]);
    expect(regionsOf(511, 2, 512)).toEqual([0, 1]);
    expect(regionsOf(100, 0, 512)).toEqual([]);
  });
});
