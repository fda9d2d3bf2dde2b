// The manifests users see, checked by the adapter without an apiserver. Method: each bad
// manifest in test/fixtures/manifests/bad says which field is wrong (`# field:`); the
// integration test (test/integration/crd-validation.test.ts) checks the apiserver refuses
// it with the `# expect:` message, and this test checks the TypeScript parser refuses it
// at that same field, so the CRD and the parser agree on every case in the corpus. The
// examples must parse, and each bad update's documents must parse on their own (they are
// bad only as a transition, which only the apiserver judges).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { tryParseReplicatedVolumeManifest } from './replicated-volume.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const badDir = join(root, 'test/fixtures/manifests/bad');
const badUpdatesDir = join(root, 'test/fixtures/manifests/bad-updates');
const examplesDir = join(root, 'examples');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.yaml')).sort();
}

function header(text: string, key: string): string | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`# ${key}: `));
  return line?.slice(`# ${key}: `.length);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// RFC 7386 JSON merge patch, as `kubectl patch --type merge` applies it.
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return patch;
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

describe('bad manifests', () => {
  const files = yamlFiles(badDir);

  it('number at least 18, each with an expected message and field', () => {
    expect(files.length).toBeGreaterThanOrEqual(18);
    for (const name of files) {
      const text = readFileSync(join(badDir, name), 'utf8');
      expect([name, header(text, 'expect')?.length ?? 0]).not.toEqual([name, 0]);
      expect([name, header(text, 'field')?.length ?? 0]).not.toEqual([name, 0]);
    }
  });

  it.each(files)('%s is refused by the parser at its field', (name) => {
    const text = readFileSync(join(badDir, name), 'utf8');
    const field = header(text, 'field');
    const result = tryParseReplicatedVolumeManifest(parse(text));
    if (header(text, 'parser')?.startsWith('accepts') === true) {
      // The header says why the adapter accepts what the apiserver refuses: unknown fields
      // (pruned by the apiserver, ignored by the adapter) and spellings only CEL refuses.
      expect(result.ok).toBe(true);
      return;
    }
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((issue) => issue.path)).toContain(field);
  });
});

describe('bad updates', () => {
  it.each(yamlFiles(badUpdatesDir))('%s: both documents are valid on their own', (name) => {
    const text = readFileSync(join(badUpdatesDir, name), 'utf8');
    expect(header(text, 'expect')).toBeDefined();
    const documents = parseAllDocuments(text).map((document) => document.toJS());
    expect(documents).toHaveLength(2);
    for (const document of documents) {
      const result = tryParseReplicatedVolumeManifest(document);
      expect(result.ok ? [] : result.issues).toEqual([]);
    }
  });
});

describe('examples', () => {
  const volumes = ['replicated-volume.yaml', 'manual-failover-volume.yaml'];
  const patches = ['manual-takeover.yaml', 'migrate.yaml'];

  it('are all covered here', () => {
    expect(yamlFiles(examplesDir)).toEqual([...volumes, ...patches].sort());
  });

  it.each(volumes)('%s parses', (name) => {
    const result = tryParseReplicatedVolumeManifest(parse(readFileSync(join(examplesDir, name), 'utf8')));
    expect(result.ok ? [] : result.issues).toEqual([]);
  });

  it.each(patches)('%s, merged into the example volume, parses and makes a request', (name) => {
    const volume: unknown = parse(readFileSync(join(examplesDir, 'replicated-volume.yaml'), 'utf8'));
    const patch: unknown = parse(readFileSync(join(examplesDir, name), 'utf8'));
    const result = tryParseReplicatedVolumeManifest(mergePatch(volume, patch));
    expect(result.ok ? [] : result.issues).toEqual([]);
    if (result.ok) expect(result.value.spec.takeover ?? result.value.spec.migrate).toBeDefined();
  });
});
