// The CRD's CEL rules that look at one object, checked again at the adapter. The apiserver
// runs them on every write, but an object stored before a rule existed (or under an older
// CRD) never met it, and the reconciler relies on them: three distinct nodes, a log that
// is not tiny. Transition rules (those naming oldSelf: size never shrinks, immutable
// fields) need the previous object, which only the apiserver has, so they are not here.
//
// invariants.test.ts reads the CRD and fails if a non-transition rule is missing from
// portedRules or if portedRules names a rule the CRD no longer has.
import type { FieldIssue } from './parse-support.js';
import type { ReplicatedVolumeSpec } from './generated.js';
import { quantityBytes } from './quantity.js';

const MEBIBYTE = 1024 * 1024;
const LOG_BYTES_MIN = 16 * MEBIBYTE;
const RESYNC_BYTES_PER_SECOND_MIN = MEBIBYTE;
const REGION_BYTES_MIN = 4096;
const REGION_BYTES_MAX = 16 * MEBIBYTE;
const NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Every non-transition CEL rule of the CRD, exactly as written there, and where it is checked here. */
export const portedRules: Readonly<Record<string, string>> = {
  "size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')": 'checkName',
  'isQuantity(self)': 'parseQuantityString (every quantity field)',
  "!isQuantity(self) || (quantity(self).isGreaterThan(quantity('0')) && quantity(self).isInteger())": 'checkSpec: size',
  "!isQuantity(self) || quantity(self).isLessThan(quantity('8Pi'))": 'parseQuantity refuses more than 2^53 - 1 bytes',
  'self.primary.node != self.bunker.node': 'checkSpec: placement',
  'self.primary.node != self.secondary.node': 'checkSpec: placement',
  'self.bunker.node != self.secondary.node': 'checkSpec: placement',
  'self.spares.all(n, n != self.primary.node && n != self.bunker.node && n != self.secondary.node)': 'checkSpec: spares',
  "!isQuantity(self) || (quantity(self).isInteger() && quantity(self).compareTo(quantity('16Mi')) >= 0)": 'checkSpec: log.size',
  "!isQuantity(self) || (quantity(self).isInteger() && quantity(self).isLessThan(quantity('32Mi')) && quantity(self).asInteger() in [4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216])": 'checkSpec: log.changeMapRegionSize',
  "!isQuantity(self) || (quantity(self).isInteger() && quantity(self).compareTo(quantity('1Mi')) >= 0 && quantity(self).isLessThan(quantity('8Pi')))": 'checkSpec: resync.bytesPerSecondMax',
};

/** metadata.name names the volume's Service, so it must be a DNS-1035 label. */
export function checkName(name: string): FieldIssue[] {
  if (name.length <= 63 && NAME.test(name)) return [];
  return [{
    path: 'metadata.name',
    problem: "must be a DNS-1035 label (at most 63 lowercase letters, digits or '-', starting with a letter), because the volume's Service takes this name",
  }];
}

/** The single-object CEL rules of the spec; the messages are the CRD's. */
export function checkSpec(spec: ReplicatedVolumeSpec): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (quantityBytes(spec.size) === 0) {
    issues.push({ path: 'spec.size', problem: 'spec.size must be a positive whole number of bytes' });
  }
  const { primary, bunker, secondary, spares } = spec.placement;
  if (primary.node === bunker.node) {
    issues.push({ path: 'spec.placement.bunker.node', problem: `spec.placement.bunker.node must differ from spec.placement.primary.node: both are ${bunker.node}` });
  }
  if (primary.node === secondary.node) {
    issues.push({ path: 'spec.placement.secondary.node', problem: `spec.placement.secondary.node must differ from spec.placement.primary.node: both are ${secondary.node}` });
  }
  if (bunker.node === secondary.node) {
    issues.push({ path: 'spec.placement.secondary.node', problem: `spec.placement.secondary.node must differ from spec.placement.bunker.node: both are ${secondary.node}` });
  }
  if (spares.some((node) => node === primary.node || node === bunker.node || node === secondary.node)) {
    issues.push({ path: 'spec.placement.spares', problem: 'spec.placement.spares must not name the primary, bunker or secondary node' });
  }
  if (quantityBytes(spec.log.size) < LOG_BYTES_MIN) {
    issues.push({ path: 'spec.log.size', problem: 'spec.log.size must be a whole number of bytes and at least 16Mi' });
  }
  const regionBytes = quantityBytes(spec.log.changeMapRegionSize);
  if (regionBytes < REGION_BYTES_MIN || regionBytes > REGION_BYTES_MAX || !isPowerOfTwo(regionBytes)) {
    issues.push({ path: 'spec.log.changeMapRegionSize', problem: 'spec.log.changeMapRegionSize must be a power of two from 4Ki to 16Mi' });
  }
  if (quantityBytes(spec.resync.bytesPerSecondMax) < RESYNC_BYTES_PER_SECOND_MIN) {
    issues.push({ path: 'spec.resync.bytesPerSecondMax', problem: 'spec.resync.bytesPerSecondMax must be a whole number of bytes, at least 1Mi' });
  }
  return issues;
}

function isPowerOfTwo(value: number): boolean {
  // Exact for every safe integer: a power of two has a single 1 bit, so log2 is whole.
  return value > 0 && Number.isInteger(Math.log2(value));
}
