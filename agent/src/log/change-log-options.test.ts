// Options: defaults, and limits that cannot work together are refused up front.
import { resolveOptions } from './change-log-options.js';
import { recordBytes } from './format.js';
import { TEST_VOLUME_UID } from './testing/log-fixtures.js';

const base = { volumeUid: TEST_VOLUME_UID, fillPolicy: { kind: 'fail' } } as const;

describe('resolveOptions', () => {
  it('fills in defaults and derives the largest append', () => {
    const resolved = resolveOptions(base, 1 << 30);
    expect(resolved).toMatchObject({
      inflightBytesMax: 16 << 20, inflightEntriesMax: 4096, appendWaitersMax: 1024, entryBytesMax: 1 << 20,
      readBlockBytes: 1 << 20, indexIntervalBytes: 65536, superblockEveryBatches: 64, appendBytesMax: 16 << 20,
    });
    expect(resolved.volumeUid.length).toBe(16);
  });

  it('caps an append so that it always fits in an empty log, wrap included', () => {
    const resolved = resolveOptions({ ...base, entryBytesMax: 4096 }, 65536);
    expect(resolved.appendBytesMax).toBe(65536 - recordBytes(4096) - 64 - 8);
  });

  it.each([
    ['an entry larger than the log', { entryBytesMax: 1 << 20 }, 65536],
    ['a zero limit', { inflightEntriesMax: 0 }, 1 << 30],
    ['a fractional limit', { readBlockBytes: 1.5 }, 1 << 30],
    ['a block policy without a positive wait', { fillPolicy: { kind: 'block', waitMs: 0 } }, 1 << 30],
  ] as const)('refuses %s', (_, overrides, regionBytes) => {
    expect(() => resolveOptions({ ...base, ...overrides }, regionBytes)).toThrow(RangeError);
  });

  it('refuses a volume uid that is not a UUID', () => {
    expect(() => resolveOptions({ ...base, volumeUid: 'default/vol' }, 1 << 30)).toThrow(RangeError);
  });
});
