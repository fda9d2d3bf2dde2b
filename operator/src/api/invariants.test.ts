// Every CEL rule of the CRD that looks at one object is ported to the adapter (the
// transition rules, which need the previous object, stay with the apiserver). Reads the
// CRD itself, so a rule added, edited or removed there fails here until the port follows.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { crdPath } from '../../scripts/gen-api-types.mjs';
import { portedRules } from './invariants.js';

function rulesOf(node: unknown, found: string[]): string[] {
  if (Array.isArray(node)) {
    for (const item of node) rulesOf(item, found);
  } else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'x-kubernetes-validations' && Array.isArray(value)) {
        for (const rule of value) {
          if (typeof rule === 'object' && rule !== null && 'rule' in rule && typeof rule.rule === 'string') found.push(rule.rule);
        }
      } else {
        rulesOf(value, found);
      }
    }
  }
  return found;
}

const allRules = rulesOf(parse(readFileSync(crdPath, 'utf8'), { merge: true }), []);
const singleObjectRules = [...new Set(allRules.filter((rule) => !rule.includes('oldSelf')))];

describe('CEL rules ported to the adapter', () => {
  it('finds the rules (the walk works)', () => {
    expect(allRules.length).toBeGreaterThan(15);
    expect(allRules.filter((rule) => rule.includes('oldSelf')).length).toBeGreaterThanOrEqual(8);
  });

  it.each(singleObjectRules)('ports %s', (rule) => {
    expect(Object.keys(portedRules)).toContain(rule);
  });

  it('ports no rule the CRD does not have', () => {
    expect(Object.keys(portedRules).filter((rule) => !singleObjectRules.includes(rule))).toEqual([]);
  });
});
