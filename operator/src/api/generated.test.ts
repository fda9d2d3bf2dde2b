// generated.ts must be exactly what the generator makes from the CRD in crds/: if someone
// edits the schema and not the types (or the reverse), this fails with the command to run.
// The generator's guard rails are tested too, since they are what keeps the mapping honest.
import { readFileSync } from 'node:fs';
import { crdPath, generateApiTypes, outputPath } from '../../scripts/gen-api-types.mjs';

const crdText = readFileSync(crdPath, 'utf8');

function crdWithSpec(spec: string): string {
  return [
    'apiVersion: apiextensions.k8s.io/v1',
    'kind: CustomResourceDefinition',
    'spec:',
    '  group: example.dev',
    '  names: {kind: ReplicatedVolume, plural: replicatedvolumes}',
    '  versions:',
    '    - name: v1',
    '      schema:',
    '        openAPIV3Schema:',
    '          type: object',
    '          required: [spec]',
    '          properties:',
    '            apiVersion: {type: string}',
    '            kind: {type: string}',
    '            metadata: {type: object}',
    '            status: {type: object, properties: {}}',
    '            spec:',
    spec,
  ].join('\n');
}

describe('generated.ts', () => {
  it('is what gen-api-types makes from the CRD (run `node operator/scripts/gen-api-types.mjs` if not)', () => {
    const committed = readFileSync(outputPath, 'utf8');
    expect(committed === generateApiTypes(crdText)).toBe(true);
  });

  it('is deterministic', () => {
    expect(generateApiTypes(crdText)).toBe(generateApiTypes(crdText));
  });
});

describe('gen-api-types guard rails', () => {
  it('refuses a schema keyword it does not translate', () => {
    const crd = crdWithSpec('              type: object\n              properties:\n                size: {type: string, minItems: 1}');
    expect(() => generateApiTypes(crd)).toThrow(/minItems is not supported/);
  });

  it('refuses an object without a type name', () => {
    const crd = crdWithSpec('              type: object\n              properties:\n                size: {type: string}\n                extra: {type: object, properties: {a: {type: string}}}');
    expect(() => generateApiTypes(crd)).toThrow(/spec.extra: object has no type name/);
  });

  it('refuses an enum without a type name', () => {
    const crd = crdWithSpec('              type: object\n              properties:\n                color: {type: string, enum: [red]}');
    expect(() => generateApiTypes(crd)).toThrow(/add ReplicatedVolumeSpec.color to ENUMS/);
  });

  it('refuses a refinement table entry that matches no field', () => {
    const crd = crdWithSpec('              type: object\n              properties:\n                size: {type: string}');
    expect(() => generateApiTypes(crd)).toThrow(/REFINE entries match no field/);
  });

  it('refuses map-like objects, which it cannot type', () => {
    const crd = crdWithSpec('              type: object\n              properties:\n                labels: {type: object, additionalProperties: {type: string}}');
    expect(() => generateApiTypes(crd)).toThrow(/additionalProperties is not supported/);
  });
});
