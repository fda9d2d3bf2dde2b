// A volume's identity in a log or change map: the 16 bytes of the ReplicatedVolume's
// metadata.uid (a UUID). The name alone is not enough: a volume deleted and created again
// under the same name gets a new uid, and must not adopt the old volume's log.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const VOLUME_UID_BYTES = 16;

/** Parses a UUID; a malformed one is a programmer error (the API server only issues UUIDs). */
export function parseVolumeUid(text: string): Uint8Array {
  if (!UUID.test(text)) throw new RangeError(`volume uid must be a UUID, got ${JSON.stringify(text)}`);
  return Uint8Array.from(Buffer.from(text.replaceAll('-', ''), 'hex'));
}

export function formatVolumeUid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function sameVolumeUid(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}
