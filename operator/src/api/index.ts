// The ReplicatedVolume API as the operator sees it: generated types and parsers, the
// adapter that checks objects from the apiserver, and Kubernetes quantities as bytes.
export * from './generated.js';
export type { ObjectMeta } from './object-meta.js';
export type { FieldIssue } from './parse-support.js';
export { portedRules } from './invariants.js';
export {
  parseReplicatedVolume, tryParseReplicatedVolume, tryParseReplicatedVolumeManifest, ReplicatedVolumeInvalid,
  type ParseResult, type ReplicatedVolumeManifest,
} from './replicated-volume.js';
export { parseQuantity, quantity, quantityBytes, QuantityInvalid, type Quantity, type QuantityProblem, type QuantityResult } from './quantity.js';
