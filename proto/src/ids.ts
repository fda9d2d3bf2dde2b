// Branded identifiers shared by every package and by the wire. A sequence number, an epoch
// and a byte offset are all integers; the brands stop one being passed where another is meant.
// They are JavaScript numbers: exact up to 2^53 - 1 (285 years of writes at a million per
// second), and every decoder from disk or wire checks Number.isSafeInteger, so a u64 is never
// rounded silently.

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Position of an entry in the change log: strictly increasing, no gaps within an epoch. */
export type Seq = Brand<number, 'Seq'>;
/** Generation of primaryship: every change of primary starts a new one. */
export type Epoch = Brand<number, 'Epoch'>;
/** A byte offset into a volume. */
export type ByteOffset = Brand<number, 'ByteOffset'>;
/** A Kubernetes node name. */
export type NodeName = Brand<string, 'NodeName'>;
/** A volume's identity: namespace/name of its ReplicatedVolume. */
export type VolumeId = Brand<string, 'VolumeId'>;

function checkSafe(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`);
  }
  return value;
}

export const seq = (value: number): Seq => checkSafe(value, 'sequence') as Seq;
export const epoch = (value: number): Epoch => checkSafe(value, 'epoch') as Epoch;
export const byteOffset = (value: number): ByteOffset => checkSafe(value, 'byte offset') as ByteOffset;
export const nodeName = (value: string): NodeName => value as NodeName;
export const volumeId = (value: string): VolumeId => value as VolumeId;

/** The sequence before any entry: a log that holds nothing has durable sequence 0. */
export const SEQ_NONE = 0 as Seq;
export const EPOCH_NONE = 0 as Epoch;
