// The ring rules writer and reader share: placement, the wrap marker, the skip rule.
import { DATA_START_POSITION } from './format.js';
import { afterSkipRule, distance, layoutFor, place, regionBytes } from './log-space.js';

const layout = layoutFor(DATA_START_POSITION + 1000);
const start = DATA_START_POSITION;
const end = DATA_START_POSITION + 1000;

describe('log space', () => {
  it('places a record that fits at the head', () => {
    expect(regionBytes(layout)).toBe(1000);
    expect(place(layout, start + 100, 200)).toEqual({ markerAt: undefined, at: start + 100, next: start + 300 });
    expect(place(layout, end - 200, 200)).toEqual({ markerAt: undefined, at: end - 200, next: end });
  });

  it('puts a wrap marker at the head when the record does not fit before the end', () => {
    expect(place(layout, end - 100, 200)).toEqual({ markerAt: end - 100, at: start, next: start + 200 });
  });

  it('skips to the start without a marker when not even a header fits', () => {
    expect(afterSkipRule(layout, end - 63)).toBe(start);
    expect(afterSkipRule(layout, end)).toBe(start);
    expect(afterSkipRule(layout, end - 64)).toBe(end - 64);
    expect(place(layout, end - 8, 200)).toEqual({ markerAt: undefined, at: start, next: start + 200 });
  });

  it('measures distance forward around the ring', () => {
    expect(distance(layout, start + 10, start + 10)).toBe(0);
    expect(distance(layout, start + 10, start + 30)).toBe(20);
    expect(distance(layout, end - 10, start + 30)).toBe(40);
  });
});
