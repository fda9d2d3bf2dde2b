// The adapter between the apiserver and the operator: a ReplicatedVolume arrives as
// `unknown` JSON (from a watch, a list or a get) and leaves as a typed, checked value, or
// as ReplicatedVolumeInvalid naming every failing field. Nothing past this sees `any`.
//
// Fields the schema does not know are ignored rather than refused: the apiserver prunes
// them from what it stores, so an unknown field here means a newer CRD than this operator,
// and an operator that refused every volume during a rolling upgrade would be worse.
import { BunkerError } from '@bunker/proto/bunker-error';
import {
  API_GROUP_VERSION, KIND, parseReplicatedVolumeSpec, parseReplicatedVolumeStatus,
  type ReplicatedVolume, type ReplicatedVolumeSpec,
} from './generated.js';
import { checkName, checkSpec } from './invariants.js';
import { parseObjectMeta } from './object-meta.js';
import {
  absent, at, expectObject, parseEnum, parseString, required, type FieldIssue, type Issues,
} from './parse-support.js';

export class ReplicatedVolumeInvalid extends BunkerError<'REPLICATED_VOLUME_INVALID'> {
  readonly issues: readonly FieldIssue[];
  constructor(what: string, issues: readonly FieldIssue[]) {
    super('REPLICATED_VOLUME_INVALID', `${what} is invalid: ${issues.map((issue) => `${issue.path}: ${issue.problem}`).join('; ')}`, {
      hint: 'the CRD installed may be older than its schema in crds/, or the object predates a validation rule; see docs/api.md',
    });
    this.issues = issues;
  }
}

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly FieldIssue[] };

/** A ReplicatedVolume as the apiserver returns it, with every default filled in. */
export function tryParseReplicatedVolume(value: unknown): ParseResult<ReplicatedVolume> {
  const issues: Issues = [];
  const o = expectObject(value, '', issues);
  if (o === undefined) return { ok: false, issues };
  const apiVersion = parseEnum(o['apiVersion'], 'apiVersion', issues, [API_GROUP_VERSION]);
  const kind = parseEnum(o['kind'], 'kind', issues, [KIND]);
  const metadata = parseObjectMeta(o['metadata'], 'metadata', issues);
  const spec = absent(o['spec']) ? required('spec', issues) : parseReplicatedVolumeSpec(o['spec'], 'spec', issues);
  const status = absent(o['status']) ? undefined : parseReplicatedVolumeStatus(o['status'], 'status', issues);
  if (metadata !== undefined) issues.push(...checkName(metadata.name));
  if (spec !== undefined) issues.push(...checkSpec(spec));
  if (issues.length > 0 || apiVersion === undefined || kind === undefined || metadata === undefined || spec === undefined) {
    return { ok: false, issues };
  }
  return { ok: true, value: { apiVersion, kind, metadata, spec, ...(status === undefined ? {} : { status }) } };
}

/** As tryParseReplicatedVolume, throwing ReplicatedVolumeInvalid with every failing field. */
export function parseReplicatedVolume(value: unknown): ReplicatedVolume {
  const result = tryParseReplicatedVolume(value);
  if (!result.ok) throw new ReplicatedVolumeInvalid(`ReplicatedVolume ${describeObject(value)}`, result.issues);
  return result.value;
}

/** A manifest as a user writes it: only a name in metadata, defaults filled as the apiserver would. */
export interface ReplicatedVolumeManifest {
  readonly apiVersion: ReplicatedVolume['apiVersion'];
  readonly kind: ReplicatedVolume['kind'];
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec: ReplicatedVolumeSpec;
}

/** Checks a manifest before it is applied (tests, tooling): the checks of the adapter minus what the apiserver adds. */
export function tryParseReplicatedVolumeManifest(value: unknown): ParseResult<ReplicatedVolumeManifest> {
  const issues: Issues = [];
  const o = expectObject(value, '', issues);
  if (o === undefined) return { ok: false, issues };
  const apiVersion = parseEnum(o['apiVersion'], 'apiVersion', issues, [API_GROUP_VERSION]);
  const kind = parseEnum(o['kind'], 'kind', issues, [KIND]);
  const metadata = expectObject(o['metadata'], 'metadata', issues);
  const name = metadata === undefined ? undefined : parseString(metadata['name'], 'metadata.name', issues, { minLength: 1 });
  const namespace = metadata === undefined || absent(metadata['namespace']) ? undefined : parseString(metadata['namespace'], at('metadata', 'namespace'), issues);
  const spec = absent(o['spec']) ? required('spec', issues) : parseReplicatedVolumeSpec(o['spec'], 'spec', issues);
  if (name !== undefined) issues.push(...checkName(name));
  if (spec !== undefined) issues.push(...checkSpec(spec));
  if (issues.length > 0 || apiVersion === undefined || kind === undefined || name === undefined || spec === undefined) {
    return { ok: false, issues };
  }
  return { ok: true, value: { apiVersion, kind, metadata: { name, ...(namespace === undefined ? {} : { namespace }) }, spec } };
}

// Names the object in an error message from whatever of its identity is readable.
function describeObject(value: unknown): string {
  const issues: Issues = [];
  const o = expectObject(value, '', issues);
  const metadata = o === undefined ? undefined : expectObject(o['metadata'], 'metadata', issues);
  const name = metadata?.['name'];
  const namespace = metadata?.['namespace'];
  if (typeof name !== 'string') return '(unnamed)';
  return typeof namespace === 'string' ? `${namespace}/${name}` : name;
}
