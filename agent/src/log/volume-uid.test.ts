// Volume uids: UUID text to 16 bytes and back; anything else is a programmer error.
import { formatVolumeUid, parseVolumeUid, sameVolumeUid } from './volume-uid.js';
import { OTHER_VOLUME_UID, TEST_VOLUME_UID } from './testing/log-fixtures.js';

describe('volume uid', () => {
  it('round-trips a UUID and compares bytes', () => {
    const bytes = parseVolumeUid(TEST_VOLUME_UID);
    expect(bytes.length).toBe(16);
    expect(formatVolumeUid(bytes)).toBe(TEST_VOLUME_UID);
    expect(sameVolumeUid(bytes, parseVolumeUid(TEST_VOLUME_UID.toUpperCase()))).toBe(true);
    expect(sameVolumeUid(bytes, parseVolumeUid(OTHER_VOLUME_UID))).toBe(false);
  });

  it.each(['', 'default/vol-a', '5f0c2a1e9b7d4c3a8e210d4b6f7a9c10', '5f0c2a1e-9b7d-4c3a-8e21-0d4b6f7a9c1g'])('refuses %j', (text) => {
    expect(() => parseVolumeUid(text)).toThrow(RangeError);
  });
});
