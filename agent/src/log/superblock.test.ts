// Superblock copies: exact round trip, every damage detected, the newest valid copy wins.
import fc from 'fast-check';
import { epoch, seq } from '@bunker/proto/ids';
import { DATA_START_POSITION } from './format.js';
import { chooseSuperblock, decodeSuperblock, encodeSuperblock, SUPERBLOCK_BYTES, type Superblock } from './superblock.js';
import { parseVolumeUid } from './volume-uid.js';
import { TEST_VOLUME_UID } from './testing/log-fixtures.js';

const superblock = (overrides: Partial<Superblock> = {}): Superblock => ({
  volumeUid: parseVolumeUid(TEST_VOLUME_UID), logId: 12, session: 4, sizeBytes: DATA_START_POSITION + 65536, generation: 9,
  epoch: epoch(3), head: DATA_START_POSITION + 4096, tail: DATA_START_POSITION + 64, anchorEpoch: epoch(2), anchorSeq: seq(10),
  durableSeq: seq(20), appliedSeq: seq(15), ...overrides,
});

describe('superblock', () => {
  it('round-trips', () => {
    expect(decodeSuperblock(encodeSuperblock(superblock()))).toEqual({ superblock: superblock() });
  });

  it('detects a flipped bit anywhere', () => {
    const bytes = encodeSuperblock(superblock());
    for (let bit = 0; bit < SUPERBLOCK_BYTES * 8; bit += 1) {
      const copy = bytes.slice();
      copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      expect(decodeSuperblock(copy)).toHaveProperty('problem');
    }
  });

  it.each([
    ['head outside the region', { head: 100 }],
    ['misaligned tail', { tail: DATA_START_POSITION + 3 }],
    ['applied above durable', { appliedSeq: seq(21) }],
    ['anchor above applied', { anchorSeq: seq(16) }],
    ['anchor epoch above epoch', { anchorEpoch: epoch(4) }],
    ['a tiny log', { sizeBytes: DATA_START_POSITION + 8 }],
    ['log id zero', { logId: 0 }],
  ])('refuses a consistent checksum over %s', (_, overrides) => {
    expect(decodeSuperblock(encodeSuperblock(superblock(overrides)))).toHaveProperty('problem');
  });

  it('chooses the newest valid copy', () => {
    const older = decodeSuperblock(encodeSuperblock(superblock({ generation: 5 })));
    const newer = decodeSuperblock(encodeSuperblock(superblock({ generation: 6 })));
    const broken = decodeSuperblock(new Uint8Array(SUPERBLOCK_BYTES));
    expect(chooseSuperblock([older, newer])).toMatchObject({ slot: 1, otherGeneration: 5, superblock: { generation: 6 } });
    expect(chooseSuperblock([newer, older])).toMatchObject({ slot: 0, otherGeneration: 5 });
    expect(chooseSuperblock([broken, older])).toMatchObject({ slot: 1, otherGeneration: -1 });
    expect(chooseSuperblock([broken, broken])).toBeUndefined();
  });

  it('decodes any bytes without throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const result = decodeSuperblock(bytes);
        expect('superblock' in result || 'problem' in result).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
