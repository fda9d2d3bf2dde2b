// A consumer request the core can act on: aligned, inside the volume, with a payload exactly
// for writes. The NBD server checks the same at its edge; this keeps the core safe on its own.
import type { ReplicaLimits } from './config.js';
import type { ConsumerRequest, RequestFailure } from './request.js';

export function validateRequest(request: ConsumerRequest, limits: ReplicaLimits): RequestFailure | null {
  if (request.op === 'flush') return null;
  const { offset, length, payload } = request;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0) {
    return invalid(`bad range ${offset}+${length}`);
  }
  if (offset % limits.blockBytes !== 0 || length % limits.blockBytes !== 0) {
    return invalid(`range ${offset}+${length} not aligned to ${limits.blockBytes}`);
  }
  if (offset + length > limits.volumeBytes) return invalid(`range ${offset}+${length} past the end (${limits.volumeBytes})`);
  if (length > limits.batchBytesMax) return invalid(`length ${length} over the maximum ${limits.batchBytesMax}`);
  if (request.op === 'write' && payload.length !== length) return invalid(`payload ${payload.length} bytes for length ${length}`);
  if (request.op !== 'write' && payload.length !== 0) return invalid(`${request.op} carries no payload`);
  return null;
}

function invalid(reason: string): RequestFailure {
  return { kind: 'InvalidRequest', reason };
}
