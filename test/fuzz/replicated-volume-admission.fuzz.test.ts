// Fuzzes the operator's admission of ReplicatedVolume objects (operator/src/api:
// replicated-volume.ts, the generated field parsers, invariants.ts) with manifests derived
// from the valid examples and the bad-manifest corpus: a field removed, replaced by a value
// of the wrong type, a negative, fractional or huge number, a hostile quantity ("-1Gi",
// "1e400", "8Pi", 10^30 bytes), an oversized string, an unknown field, or random JSON.
// Properties: parsing returns a typed result and never throws; the throwing variant throws
// only ReplicatedVolumeInvalid naming at least one field; whatever is accepted satisfies
// every ported CEL rule (checkName, checkSpec), has whole, safe byte counts, parses again to
// itself, and is accepted by the manifest parser too (it checks a subset).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { BunkerError } from '@bunker/proto/bunker-error';
import { checkName, checkSpec } from '../../operator/src/api/invariants.js';
import { quantityBytes } from '../../operator/src/api/quantity.js';
import {
  parseReplicatedVolume, tryParseReplicatedVolume, tryParseReplicatedVolumeManifest,
} from '../../operator/src/api/replicated-volume.js';
import { fuzzBudget } from './fuzz-budget.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every ReplicatedVolume document of the examples and the bad corpus (each bad one is one field off a good one). */
function seedManifests(): Json[] {
  const dirs = [join(root, 'examples'), join(root, 'test/fixtures/manifests/bad')];
  const documents = dirs.flatMap((dir) => readdirSync(dir).filter((name) => name.endsWith('.yaml')).sort()
    .flatMap((name) => parseAllDocuments(readFileSync(join(dir, name), 'utf8')).map((document) => document.toJSON() as Json)));
  return documents.filter((document) => isObject(document) && document['kind'] === 'ReplicatedVolume');
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The metadata the apiserver adds to what a user applies. */
function asStored(manifest: Json): Json {
  if (!isObject(manifest)) return manifest;
  const metadata = isObject(manifest['metadata']) ? manifest['metadata'] : {};
  return {
    ...manifest,
    metadata: { namespace: 'default', uid: '5f0c2a1e-9b7d-4c3a-8e21-0d4b6f7a9c10', resourceVersion: '42', generation: 1, ...metadata },
  };
}

/** Every path to a value inside `value` (the root excluded). */
function pathsOf(value: Json, prefix: readonly (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((item, index) => [[...prefix, index], ...pathsOf(item, [...prefix, index])]);
  if (isObject(value)) return Object.entries(value).flatMap(([key, item]) => [[...prefix, key], ...pathsOf(item, [...prefix, key])]);
  return [];
}

type Mutation =
  | { readonly op: 'delete'; readonly pick: number }
  | { readonly op: 'set'; readonly pick: number; readonly value: Json }
  /** A field the schema does not know, next to an existing one. */
  | { readonly op: 'add'; readonly pick: number; readonly key: string; readonly value: Json };

const hostileQuantity = fc.oneof(
  fc.constantFrom('-1Gi', '0', '1', '1.5', '1.5Gi', '1000m', '1500m', '8Pi', '8191Ti', '9007199254740991', '9007199254740992', '1e400', '1e-400',
    '999999999999999999999999999999', '16Mi', '4Ki', '3Ki', '1Mi', '+1Gi', '.5', '1E3', '1ki', ' 1Gi', '', '0x10', '1Ei'),
  fc.tuple(fc.nat(), fc.constantFrom('', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'k', 'M', 'G', 'e3', 'e18', 'm')).map(([n, suffix]) => `${n}${suffix}`),
);
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: hostileQuantity },
  { weight: 2, arbitrary: fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53, 2 ** 64, '', [], {}, 'site-a', 'site-b', 'site-c', 'Site-A', 'a'.repeat(300)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 70 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> },
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), pick: fc.nat(), value: hostileValue }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('add' as const), pick: fc.nat(), key: fc.string({ maxLength: 12 }), value: hostileValue }) },
);

function applyMutation(document: Json, mutation: Mutation): Json {
  const copy = structuredClone(document);
  const paths = pathsOf(copy);
  const path = paths[mutation.pick % Math.max(1, paths.length)];
  if (path === undefined) return copy;
  let parent: Json = copy;
  for (const key of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[key] ?? null;
  const last = path[path.length - 1] as string | number;
  if (Array.isArray(parent) && typeof last === 'number') {
    if (mutation.op === 'delete') parent.splice(last, 1);
    else if (mutation.op === 'set') parent[last] = mutation.value;
    else parent.push(mutation.value);
  } else if (isObject(parent)) {
    if (mutation.op === 'delete') delete parent[String(last)];
    else if (mutation.op === 'set') parent[String(last)] = mutation.value;
    // Keys that would change the object's prototype are not JSON fields.
    else if (mutation.key !== '__proto__') parent[mutation.key] = mutation.value;
  }
  return copy;
}

const SEEDS = seedManifests();

const candidate = fc
  .record({ seed: fc.nat(), stored: fc.boolean(), mutations: fc.array(mutation, { maxLength: 3 }), status: fc.option(fc.jsonValue({ maxDepth: 3 }), { freq: 6 }) })
  .map(({ seed, stored, mutations, status }) => {
    const base = SEEDS[seed % SEEDS.length] ?? null;
    const document = mutations.reduce(applyMutation, stored ? asStored(base) : base);
    return status === null || !isObject(document) ? document : { ...document, status: status as Json };
  });

function expectAdmissible(spec: Parameters<typeof checkSpec>[0], name: string): void {
  expect(checkName(name)).toEqual([]);
  expect(checkSpec(spec)).toEqual([]);
  for (const value of [spec.size, spec.log.size, spec.log.changeMapRegionSize, spec.resync.bytesPerSecondMax]) {
    const bytes = quantityBytes(value);
    expect(Number.isSafeInteger(bytes) && bytes >= 0).toBe(true);
  }
  const { primary, bunker, secondary, spares } = spec.placement;
  expect(new Set([primary.node, bunker.node, secondary.node]).size).toBe(3);
  for (const node of spares) expect([primary.node, bunker.node, secondary.node]).not.toContain(node);
}

describe('ReplicatedVolume admission over mutated manifests', () => {
  it('has seeds: the examples and the bad corpus', () => {
    expect(SEEDS.length).toBeGreaterThanOrEqual(20);
    expect(SEEDS.some((seed) => tryParseReplicatedVolume(asStored(seed)).ok)).toBe(true);
  });

  const budget = fuzzBudget(1500);
  it('returns a typed result, throws only ReplicatedVolumeInvalid, and accepts only objects that keep the invariants', () => {
    let accepted = 0;
    fc.assert(
      fc.property(candidate, (document) => {
        const result = tryParseReplicatedVolume(document);
        let thrown: unknown;
        try {
          parseReplicatedVolume(document);
        } catch (error) {
          thrown = error;
        }
        if (!result.ok) {
          expect(result.issues.length).toBeGreaterThan(0);
          expect(BunkerError.is(thrown) && thrown.code === 'REPLICATED_VOLUME_INVALID').toBe(true);
        } else {
          expect(thrown).toBeUndefined();
          accepted += 1;
          expectAdmissible(result.value.spec, result.value.metadata.name);
          // A fixpoint: what the adapter hands on parses again to the same value.
          const again = tryParseReplicatedVolume(JSON.parse(JSON.stringify(result.value)));
          expect(again).toEqual(result);
          // The manifest parser checks a subset of the same rules.
          expect(tryParseReplicatedVolumeManifest(document).ok).toBe(true);
        }
        const manifest = tryParseReplicatedVolumeManifest(document);
        if (manifest.ok) expectAdmissible(manifest.value.spec, manifest.value.metadata.name);
        else expect(manifest.issues.length).toBeGreaterThan(0);
      }),
      budget.parameters,
    );
    // Mutations keep some objects valid; a generator that only produced refusals would test nothing.
    expect(accepted).toBeGreaterThan(0);
  }, budget.timeoutMs);
});
